"""The text-layer decision's shared work gives what recomputing it gave.

Acquisition of text layers was sped up by not redoing work on a page: the raw reading's words
and table cells are reused when the symbol repair has changed letters only (`_Readings`), bands and
views hold just their glyphs (`_View`) instead of filtering every object of the page, a table's
glyph middles are worked out once (`_read_table`), and a run of letters is searched only where a
suspect symbol is. Each is compared here with the plain computation it replaced, on every sample
and real-world PDF and on random cases.
"""
from __future__ import annotations

import random
from pathlib import Path

import pdfplumber
import pytest

from congvan.pipeline import repair
from congvan.pipeline.acquire import (
    _broken_fonts,
    _Grid,
    _layer_text,
    _learn_document_symbol_map,
    _repair_symbols,
    _tables,
    _text_and_words,
    _View,
    _Readings,
)
from conftest import REALWORLD, SAMPLES

PDFS = sorted(SAMPLES.glob("*.pdf")) + (sorted(REALWORLD.glob("*.pdf")) if REALWORLD.is_dir() else [])
GARBLED = sorted(SAMPLES.glob("*-garbled.pdf"))


@pytest.mark.parametrize("path", PDFS, ids=lambda p: p.name)
def test_rereading_as_a_fresh_reading(path: Path):
    """After letters change (never a blank, never a glyph's place), the words, text and table cells
    read through the raw reading are those a fresh reading gives, bands and tables included."""
    rnd = random.Random(path.name)
    with pdfplumber.open(path) as pdf:
        for page in pdf.pages:
            chars = page.chars
            grid, readings = _Grid(page), _Readings()
            _layer_text(page, grid, readings)
            saved = [c["text"] for c in chars]
            try:
                for c in chars:
                    if c["text"].strip() and rnd.random() < 0.2:
                        c["text"] = rnd.choice(["ư", "Đ", "\u201c", "\u201d", "ﬁ", "a"])
                reused = _View(page, list(chars))
                plain = page.filter(lambda o: True)
                assert _text_and_words(reused, readings) == _text_and_words(plain)
                assert _layer_text(reused, grid, readings) == _layer_text(plain, grid)
                assert _tables(reused, grid, readings) == _tables(plain, grid)
            finally:
                for c, t in zip(chars, saved):
                    c["text"] = t


@pytest.mark.parametrize("path", GARBLED, ids=lambda p: p.name)
def test_symbol_repair_with_the_raw_words_as_without(path: Path):
    def repaired(reuse: bool) -> list:
        out = []
        with pdfplumber.open(path) as pdf:
            smap = _learn_document_symbol_map(pdf)
            for page in pdf.pages:
                grid = _Grid(page)
                readings = _Readings() if reuse else None
                _layer_text(page, grid, readings)
                fixed, desc, n, fresh = _repair_symbols(page, page.chars, _broken_fonts(page.chars), smap, grid, readings)
                out.append((fixed, desc, n, _tables(fresh, grid, readings) if fresh is not None else None))
        return out

    got = repaired(True)
    assert any(n for _, _, n, _ in got)  # the case is there
    assert got == repaired(False)


@pytest.mark.parametrize("path", GARBLED, ids=lambda p: p.name)
def test_a_fonts_glyphs_read_as_the_filtered_page(path: Path):
    """The symbol map learns from each broken font's text: the view of its glyphs reads as
    `page.filter(...).extract_text()` did."""
    with pdfplumber.open(path) as pdf:
        seen = 0
        for page in pdf.pages:
            for font in _broken_fonts(page.chars):
                view = _View(page, [c for c in page.chars if c.get("fontname") == font])
                expected = page.filter(lambda o: o.get("object_type") != "char" or o.get("fontname") == font).extract_text()
                assert _text_and_words(view)[0] == expected
                seen += 1
        assert seen


def _word_runs_plain(text: str) -> list[str]:
    """The glyph-by-glyph loop `repair._word_runs` used to run over the whole text."""
    runs, cur = [], []
    for ch in text:
        if ch.isalpha() or ch in repair._SUSPECTS:
            cur.append(ch)
        else:
            if cur:
                runs.append("".join(cur))
            cur = []
    if cur:
        runs.append("".join(cur))
    return [r for r in runs if any(repair.is_suspect(c) for c in r) and any(c.isalpha() for c in r)]


@pytest.mark.parametrize("seed", range(20))
def test_word_runs_as_the_plain_loop(seed):
    rnd = random.Random(seed)
    alphabet = list("aăâbđeêoôơuưyàáảãạ ÀĐƯ019_.,-\n\t²³¹½ⅫⅤ①٣ºª") + [chr(i) for i in range(0xA0, 0xC1)]
    for _ in range(2000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40)))
        assert repair._word_runs(text) == _word_runs_plain(text), text


def test_word_runs_on_the_garbled_layers():
    for path in GARBLED:
        with pdfplumber.open(path) as pdf:
            text = "\n".join(p.extract_text() for p in pdf.pages)
        assert repair._word_runs(text) == _word_runs_plain(text)
        assert repair._word_runs(text)  # suspects are there


def _repair_passes_plain(chars: list[dict], fonts: set[str], maps: dict) -> int:
    """The three glyph passes `_repair_symbols` ran before they skipped the glyphs no rule touches."""
    n = 0
    for i, c in enumerate(chars):
        m = maps.get(c.get("fontname"))
        if m and c["text"] in m:
            prev = chars[i - 1]["text"] if i else ""
            nxt = chars[i + 1]["text"] if i + 1 < len(chars) else ""
            if prev.isalpha() or nxt.isalpha() or prev in m or nxt in m:
                c["text"] = m[c["text"]]
                n += 1
    opener = None
    for i, c in enumerate(chars):
        if c.get("fontname") not in fonts:
            continue
        if c["text"] in ("<", '"', "\u201c") and i + 1 < len(chars) and chars[i + 1]["text"].isalpha():
            opener = c
        elif c["text"] == "=" and opener is not None and i and chars[i - 1]["text"].strip():
            if opener["text"] == "<":
                opener["text"] = "\u201c"
                n += 1
            c["text"] = "\u201d"
            opener = None
            n += 1
    for i, c in enumerate(chars):
        if c.get("fontname") not in fonts:
            continue
        prev = chars[i - 1]["text"] if i else " "
        nxt = chars[i + 1]["text"] if i + 1 < len(chars) else " "
        if c["text"] == "<" and nxt.isalpha() and not prev.strip():
            c["text"] = "\u201c"
            n += 1
        elif c["text"] == "=" and prev.strip() and not prev.isdigit() and not (nxt.isalnum()):
            c["text"] = "\u201d"
            n += 1
    return n


class _Map:
    def __init__(self, mapping):
        self.mapping = mapping

    def describe(self):
        return ""


@pytest.mark.parametrize("seed", range(30))
def test_symbol_repair_passes_as_the_plain_ones(seed):
    rnd = random.Random(seed)
    mapping = {"¢": "ơ", "°": "ư", "¡": "Ư", "<": "x"} if seed % 3 == 0 else {"¢": "ơ", "°": "ư", "¡": "Ư"}
    alphabet = ["a", "n", "N", "¢", "°", "¡", "<", "=", '"', "\u201c", " ", "", "1", "2", "."]
    chars = [{"text": rnd.choice(alphabet), "fontname": rnd.choice(["F", "F", "G", ""]), "upright": True,
              "x0": 5.0 * i, "x1": 5.0 * i + 4, "top": 10.0, "bottom": 20.0, "doctop": 10.0, "size": 10.0}
             for i in range(rnd.randint(0, 200))]
    if rnd.random() < 0.2:
        for c in chars:
            del c["fontname"]
    fonts = {"F"} if seed % 2 else {"F", "G"}
    plain = [dict(c) for c in chars]
    expected_n = _repair_passes_plain(plain, fonts, {f: mapping for f in fonts})
    page = _View(type("P", (), {"bbox": (0, 0, 1000, 40), "width": 1000, "height": 40, "page_number": 1})(), chars)
    grid = type("NoTables", (), {"tables": lambda self, view: []})()
    _, _, n, _ = _repair_symbols(page, chars, fonts, _Map(mapping), grid)
    assert n == expected_n
    assert [c["text"] for c in chars] == [c["text"] for c in plain]
