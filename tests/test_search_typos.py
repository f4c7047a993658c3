"""Typo correction only where the corrected query still makes sense
(bot/core/search/typos.py): not when the other words find nothing, not from one
dictionary word to another."""

from __future__ import annotations

from pathlib import Path

from bot.app import Core
from bot.core.search.typos import edits1, is_dictionary_word
from tests.test_search import load, slugs, write_review


def test_edits_and_the_dictionary() -> None:
    assert "mamba" in edits1("mamaba") and "mamaba" not in edits1("mamaba")
    assert is_dictionary_word("table") and is_dictionary_word("stable")
    assert not is_dictionary_word("tranformer") and not is_dictionary_word("mamaba")


def tables(core: Core, tmp_path: Path) -> None:
    load(
        core,
        *(
            write_review(tmp_path, f"t{n}", title=f"Table Methods {n}", body="表格 table 数据。")
            for n in range(3)
        ),
        write_review(tmp_path, "serve", title="Serving with tables", body="批处理。"),
    )


def test_a_word_is_not_corrected_when_the_rest_finds_nothing(core: Core, tmp_path: Path) -> None:
    """`Stable Diffusion` returned the vLLM review: stable → table."""
    tables(core, tmp_path)
    assert core.search.search("Stable Diffusion").total == 0
    assert core.search.search("tabel diffusion").total == 0
    assert slugs(core, "tabel methods")[0].startswith("t")  # the rest finds something


def test_a_dictionary_word_is_not_turned_into_another(core: Core, tmp_path: Path) -> None:
    tables(core, tmp_path)
    assert core.search.search("stable").total == 0
    assert core.search.search("tabel").total == 4  # not a word: corrected
