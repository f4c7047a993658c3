"""A real browser for the web archive's end-to-end tests: Debian's Chromium, headless.

The browser is the distribution's `/usr/bin/chromium` (apt-get install chromium
fonts-noto-cjk; `.ci/run` does it), driven by Playwright with `executable_path` and
`--no-sandbox`: never a browser downloaded by `playwright install`, which CI machines may not
reach and which would test a Chromium nobody runs. Where Chromium, Playwright or a CJK font
is missing the tests skip with a loud reason; with PAPERBOT_REQUIRE_BROWSER=1 (set by
.ci/run) they fail instead, like PostgreSQL's (tests/support/stores.py).

It also holds the screenshot checks: a PNG of the right size that is not blank, and Chinese
text rendered as glyphs rather than tofu (the boxes a browser draws for characters no font
has). Tofu boxes are one and the same picture whatever the character, so distinct Han
characters of one font size must look distinct, and unlike the box drawn for characters
that no font can have (private-use code points, rendered on a page of our own).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from statistics import median
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
#: Chromium as root in a container has no user namespace for its sandbox.
CHROMIUM_ARGS = ["--no-sandbox"]
INSTALL_HINT = "apt-get install -y --no-install-recommends chromium fonts-noto-cjk"


def _browser_problem() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the Python package playwright is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} ({INSTALL_HINT})"
    if shutil.which("fc-list") is not None:
        fonts = subprocess.run(
            ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False
        )
        if not fonts.stdout.strip():
            return f"no font with Chinese glyphs is installed ({INSTALL_HINT})"
    return None


def require_browser() -> None:
    """Skip (loudly) or, with PAPERBOT_REQUIRE_BROWSER=1, fail when no browser can run."""
    problem = _browser_problem()
    if problem is None:
        return
    if os.environ.get("PAPERBOT_REQUIRE_BROWSER") == "1":
        pytest.fail(problem + " (PAPERBOT_REQUIRE_BROWSER=1)")
    pytest.skip("SKIPPING BROWSER TEST — " + problem)


# --- is it Chinese or tofu? ----------------------------------------------------------

#: Collects the distinct Han characters visible in the viewport, each with its box and the
#: font it is drawn in: a Range over one character gives its exact rectangle.
_HAN_BOXES_JS = """
(limit) => {
  const han = /[\\u4e00-\\u9fff\\ue000-\\uf8ff]/;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const found = [];
  const seen = new Set();
  while (walker.nextNode() && found.length < limit) {
    const node = walker.currentNode;
    const style = getComputedStyle(node.parentElement);
    if (style.visibility !== "visible") continue;
    for (let i = 0; i < node.data.length && found.length < limit; i++) {
      const ch = node.data[i];
      if (!han.test(ch) || seen.has(ch)) continue;
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const r = range.getBoundingClientRect();
      if (r.width < 6 || r.height < 6) continue;
      if (r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight) continue;
      seen.add(ch);
      found.push({ch, x: r.left, y: r.top, width: r.width, height: r.height,
                  font: `font-size: ${style.fontSize}; font-weight: ${style.fontWeight}; `
                        + `font-family: ${style.fontFamily}`});
    }
  }
  return found;
}
"""

#: Signatures are the character's ink, cropped to its bounding box and scaled to this grid:
#: independent of where (at which sub-pixel offset) the character sits.
_GRID = 16


@dataclass(frozen=True)
class Glyph:
    character: str
    font: str
    signature: tuple[bool, ...]
    ink: int


def han_glyphs(page: Any, screenshot: Path, limit: int = 40) -> list[Glyph]:
    """The distinct Han characters visible on `page` as `screenshot` (a PNG of the page's
    viewport at device scale 1) shows them."""
    from PIL import Image

    boxes = page.evaluate(_HAN_BOXES_JS, limit)
    with Image.open(screenshot) as image:
        gray = image.convert("L")
        glyphs = []
        for box in boxes:
            left, top = int(box["x"]), int(box["y"])
            right = min(gray.width, int(box["x"] + box["width"]) + 1)
            bottom = min(gray.height, int(box["y"] + box["height"]) + 1)
            glyph = _glyph(box["ch"], box["font"], gray.crop((left, top, right, bottom)))
            if glyph is not None:
                glyphs.append(glyph)
    return glyphs


def _glyph(character: str, font: str, crop: Any) -> Glyph | None:
    histogram = crop.histogram()
    background = max(range(256), key=histogram.__getitem__)
    ink = crop.point(lambda value: 255 if abs(value - background) > 60 else 0)
    bounds = ink.getbbox()
    if bounds is None:
        return None
    small = ink.crop(bounds).resize((_GRID, _GRID))
    signature = tuple(value > 96 for value in small.tobytes())
    return Glyph(character, font, signature, ink.histogram()[255])


def distance(one: Glyph, other: Glyph) -> float:
    """Share of the signature grid where two glyphs differ: 0 for the same picture."""
    differing = sum(a != b for a, b in zip(one.signature, other.signature, strict=True))
    return differing / len(one.signature)


#: Distinct real glyphs of one font differ on about half the grid; tofu boxes differ only
#: where the sub-pixel position of the box blurs an edge (measured: 0.45 and 0.0-0.11).
MIN_SPREAD = 0.2
#: A character this close to the browser's tofu box counts as one.
BOX_DISTANCE = 0.1


@dataclass(frozen=True)
class TofuVerdict:
    glyphs: int
    #: median distance between two distinct characters: tofu boxes are all alike (≈ 0)
    spread: float
    #: share of the characters that look like the browser's box for a missing glyph
    box_like: float

    @property
    def rendered(self) -> bool:
        return self.glyphs >= 4 and self.spread >= MIN_SPREAD and self.box_like < 0.25


def largest_font_group(glyphs: Sequence[Glyph]) -> list[Glyph]:
    """The glyphs drawn in the font (size, weight, family) most characters share."""
    groups: dict[str, list[Glyph]] = {}
    for glyph in glyphs:
        groups.setdefault(glyph.font, []).append(glyph)
    return max(groups.values(), key=len, default=[])


#: Private-use code points: no font on the machine has them, so they are drawn as tofu.
NO_GLYPH_CHARACTERS = "".join(chr(0xE000 + n * 7) for n in range(8))


def tofu_boxes(context: Any, font_css: str, directory: Path) -> list[Glyph]:
    """The browser's tofu in the font `font_css`, drawn on a page of our own (a new tab in
    `context`, so the browser and its fonts are the ones under test)."""
    page = context.new_page()
    try:
        spans = " ".join(f"<span>{character}</span>" for character in NO_GLYPH_CHARACTERS)
        page.set_content(f'<html><body style="margin:8px;{font_css}"><p>{spans}</p></body></html>')
        shot = directory / "tofu-reference.png"
        page.screenshot(path=str(shot))
        return han_glyphs(page, shot)
    finally:
        page.close()


def judge(group: Sequence[Glyph], boxes: Sequence[Glyph]) -> TofuVerdict:
    """Whether `group` (characters of one font) are real glyphs; `boxes` are that font's
    renderings of characters no font has (the browser's tofu)."""
    pairs = [distance(a, b) for a, b in combinations(group, 2)]
    box_like = [g for g in group if any(distance(g, box) < BOX_DISTANCE for box in boxes)]
    return TofuVerdict(
        len(group), median(pairs) if pairs else 0.0, len(box_like) / max(1, len(group))
    )
