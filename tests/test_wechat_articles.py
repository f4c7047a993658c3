"""The weekly push's WeChat articles: a review's Markdown rendered as on its web page and
narrowed to WeChat's article HTML. Real reviews (the column's first issue, and a review
in the column's format written to be hostile) go through the broadcast over real HTTP to
the fake WeChat, which refuses what WeChat refuses (active markup, oversized content)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from bot.app import Core
from bot.channels.wechat.api import WeChatApiError
from bot.channels.wechat.article import (
    ALLOWED_TAGS,
    MAX_CONTENT_CHARS,
    article_blocks,
    article_content,
)
from bot.channels.wechat.broadcast import WeChatBroadcaster
from bot.core.broadcasts import BroadcastService
from bot.core.richtext import markdown_html
from bot.core.shared_credentials import SharedCredentials
from tests.support.fake_wechat import FakeWeChatServer

EDITOR = "oEDITOR"

#: One review in the column's own format, with what an article must not carry through.
HOSTILE_ISSUE = """# 论文解读（测试期）

## 最新论文解读

### Hostile Markup in Reviews

**发表时间**: 2024年1月
**作者**: Mallory Example (Nowhere)
**链接**: [arXiv:2401.00001](https://arxiv.org/abs/2401.00001)

#### 核心思想

当 a < b 且文本里有 ]]> 时，<script>alert(1)</script> 只是文字，
<img src=x onerror=alert(2)> 也是，[点我](javascript:alert(3)) 不成链接。

- **粗体**、*斜体* 与 `x < y` 的行内代码
- 外链 [论文](https://arxiv.org/abs/2401.00001) 只留文字，
  [公众号文章](https://mp.weixin.qq.com/s/abc) 保留

```python
def worst(x):
    return "</script><script>alert(4)</script>" if x < 0 else "]]>"
```

![外图](https://example.com/tracker.png)
![素材](https://mmbiz.qpic.cn/mmbiz_png/abc/0?wx_fmt=png)

| 方法 | 结果 |
|------|------|
| A | 1 |

###### 小标题
"""


class Markup(HTMLParser):
    """Every tag with its attributes, and the text, of an article's content."""

    def __init__(self, content: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(content)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_wechat_safe(content: str) -> None:
    markup = Markup(content)
    assert {tag for tag, _ in markup.tags} <= ALLOWED_TAGS | {"a", "img"}, markup.tags
    for tag, attrs in markup.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name, value in attrs.items():
            assert (tag, name) in {("a", "href"), ("img", "src"), ("ol", "start")}, (tag, name)
            if name in ("href", "src"):
                host = urlsplit(value or "").hostname
                assert host in {"mp.weixin.qq.com", "mmbiz.qpic.cn"}, value
    assert "<script" not in content.lower()
    assert "]]>" not in content
    assert len(content) < MAX_CONTENT_CHARS


@pytest.fixture
def wechat() -> Iterator[FakeWeChatServer]:
    with FakeWeChatServer(app_id="wxapp", app_secret="s3cret") as server:
        server.state.followers.update({EDITOR, "oREADER"})
        yield server


def broadcaster(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient, public_url: str = "https://x.org"
) -> WeChatBroadcaster:
    credentials = SharedCredentials(core.sessions)
    return WeChatBroadcaster(
        wechat.client(http, credentials),
        credentials,
        lambda: b"\xff\xd8cover",
        editors=[EDITOR],
        public_url=public_url,
    )


def drafted(wechat: FakeWeChatServer) -> dict[str, dict[str, Any]]:
    """The one draft's articles, by the review page they link to."""
    (articles,) = wechat.state.drafts.values()
    return {str(article["content_source_url"]).rsplit("/", 1)[1]: article for article in articles}


async def test_the_column_pushed_as_rendered_safe_articles(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient, seed_file: Path, tmp_path: Path
) -> None:
    hostile = tmp_path / "hostile.txt"
    hostile.write_text(HOSTILE_ISSUE, encoding="utf-8")
    reports = core.reviews.import_files([seed_file, hostile])
    assert all(report.error is None for report in reports), [r.error for r in reports]
    reviews = core.reviews.all()
    assert len(reviews) == 6

    result = await BroadcastService(core.sessions).run(broadcaster(core, wechat, http), reviews)

    assert result.status == "sent", result
    assert len(wechat.state.mass_jobs) == 1
    articles = drafted(wechat)
    assert len(articles) == 6
    for article in articles.values():
        assert_wechat_safe(article["content"])

    mamba = articles["mamba-linear-time-sequence-modeling"]["content"]
    # The paper first, as on the review's page (the column's body does not repeat it).
    lead = (
        "<p><em>作者：Albert Gu, Tri Dao (CMU &amp; Stanford)</em></p>"
        "<p><em>发表时间：2023年12月 · arXiv:2312.00752</em></p>"
    )
    assert mamba.startswith(lead + "<h4>核心创新</h4><p>Mamba 提出了")
    assert "<ul><li>线性时间复杂度" in mamba
    assert "<li><strong>选择性SSM</strong>: 传统SSM" in mamba
    # The same rendering as the web page, only without the source's layout newlines.
    review = next(r for r in reviews if r.slug == "mamba-linear-time-sequence-modeling")
    assert mamba == lead + markdown_html(review.body).replace(">\n<", "><").rstrip("\n")

    (slug,) = [slug for slug in articles if slug.startswith("hostile")]
    content = articles[slug]["content"]
    assert content.startswith(
        "<p><em>作者：Mallory Example (Nowhere)</em></p>"
        "<p><em>发表时间：2024年1月 · arXiv:2401.00001</em></p><h4>"
    )
    assert "<h4>核心思想</h4>" in content
    assert "当 a &lt; b 且文本里有 ]]&gt; 时，&lt;script&gt;alert(1)&lt;/script&gt; 只是" in content
    assert "&lt;img src=x onerror=alert(2)&gt;" in content
    assert "[点我](javascript:alert(3))" in content  # markdown-it made no link of it
    assert "<strong>粗体</strong>、<em>斜体</em> 与 <code>x &lt; y</code>" in content
    assert "外链 论文 只留文字，\n" in content
    assert '<a href="https://mp.weixin.qq.com/s/abc">公众号文章</a>' in content
    assert (
        '<pre><code>def worst(x):\n    return "&lt;/script&gt;&lt;script&gt;alert(4)'
        '&lt;/script&gt;" if x &lt; 0 else "]]&gt;"\n</code></pre>'
    ) in content
    assert "tracker.png" not in content
    assert '<img src="https://mmbiz.qpic.cn/mmbiz_png/abc/0?wx_fmt=png"/>' in content
    assert "<p><strong>方法</strong> | <strong>结果</strong></p><p><span>A</span> | " in content
    assert content.endswith("<h4>小标题</h4>")


async def test_a_review_over_wechats_limit_is_cut_at_a_block_and_accepted(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient
) -> None:
    @dataclass(frozen=True)
    class Long:
        id: int = 1
        title: str = "长文"
        summary: str = "很长"
        slug: str = "long"
        body: str = "\n\n".join(f"第 {n} 段，**加粗** 的 a < b。" for n in range(3000))

    result = await BroadcastService(core.sessions).run(broadcaster(core, wechat, http), [Long()])

    assert result.status == "sent", result
    content = drafted(wechat)["long"]["content"]
    assert_wechat_safe(content)
    assert content.startswith("<p>第 0 段，<strong>加粗</strong> 的 a &lt; b。</p>")
    assert content.endswith("<p><em>全文较长，请点「阅读原文」在网页上读完。</em></p>")
    paragraphs = Markup(content).tags
    assert 100 < len([tag for tag, _ in paragraphs if tag == "p"]) < 3000


def test_without_a_web_page_the_cut_note_does_not_point_to_one() -> None:
    body = "\n\n".join("一段文字。" * 20 for _ in range(1000))
    content = article_content(body, "zh", on_web=False)
    assert len(content) < MAX_CONTENT_CHARS
    assert content.endswith("<p><em>全文较长，此处只收前面部分。</em></p>")


@pytest.mark.parametrize(
    "content",
    [
        "<p>hi</p><script>alert(1)</script>",
        '<p onclick="alert(1)">hi</p>',
        '<a href=" javascript:alert(1)">hi</a>',
        "<iframe src='https://example.com'></iframe>",
        "<p>" + "字" * MAX_CONTENT_CHARS + "</p>",
    ],
)
async def test_the_fake_refuses_what_wechat_refuses(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient, content: str
) -> None:
    credentials = SharedCredentials(core.sessions)
    api = wechat.client(http, credentials)
    thumb = await api.upload_image(b"\xff\xd8cover", "cover.jpg")
    article = {"title": "t", "content": content, "thumb_media_id": thumb}
    with pytest.raises(WeChatApiError) as refused:
        await api.add_draft([article])
    assert refused.value.errcode == 45166
    assert wechat.state.drafts == {}
    # Text that merely reads like markup is no markup: taken.
    article["content"] = "<p>&lt;script&gt; onclick=x javascript:y ]]&gt;</p>"
    assert await api.add_draft([article])


def test_the_narrowing_holds_for_html_markdown_it_never_writes() -> None:
    """The allowlist does not rely on markdown-it's escaping: raw hostile HTML comes out
    as safe as the rendered review."""
    hostile = (
        "<P ONCLICK=x>a<SCRIPT>alert(1)</SCRIPT>b</P>"
        "<svg onload=alert(2)><script>alert(3)</script><text>svg text</text></svg>"
        '<style>p{}</style><iframe src="https://e.com">in frame</iframe>'
        '<p><a href="&#106;avascript:alert(4)">j</a>'
        '<a href="https://mp.weixin.qq.com.evil.com/s">look-alike</a>'
        '<img src="https://mmbiz.qpic.cn.evil.com/x.png" onerror=alert(5)>'
        '<img src="//mmbiz.qpic.cn/x.png"></p>'
        '<div style="color:red" class="c">div text &lt;b&gt; ]]&gt;</div>'
        "<ol start='2x'><li>x</li></ol><ul><li><p>unclosed"
    )
    content = "".join(article_blocks(hostile))
    assert_wechat_safe(content)
    assert content == (
        "<p>ab</p><p>jlook-alike</p><section>div text &lt;b&gt; ]]&gt;</section>"
        "<ol><li>x</li></ol><ul><li><p>unclosed</p></li></ul>"
    )
