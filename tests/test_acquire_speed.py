"""The text-layer path's fast code gives exactly what the plain code it replaced gave.

Acquisition was sped up (issue 6) by building glyph dicts without pdfplumber's generic walk
(`leanchars`), clustering words once for text and words, finding a page's tables once, and
vectorising the hidden-blank and ink-mask tests. Each is compared here with the plain code, on
every sample and real-world PDF and on synthetic cases the corpus lacks.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pdfplumber
import pytest

from congvan.pipeline import leanchars, playaobjects
from congvan.pipeline.acquire import _glyph_mask, _Grid, _layer_text, _tables, _text_and_words, _without_hidden_spaces
from congvan.pipeline.repair import nfc
from conftest import REALWORLD, SAMPLES

PDFS = sorted(SAMPLES.glob("*.pdf")) + (sorted(REALWORLD.glob("*.pdf")) if REALWORLD.is_dir() else [])


def _without_stream(objs: list[dict]) -> list[dict]:
    """Image dicts hold the PDFStream object itself, equal only to itself: compare the rest."""
    return [{k: v for k, v in o.items() if k != "stream"} for o in objs]


@pytest.mark.skipif(not leanchars.ENABLED, reason="pdfplumber is not the version leanchars was checked against")
@pytest.mark.parametrize("path", PDFS, ids=lambda p: p.name)
def test_lean_objects_equal_pdfplumber(path: Path):
    with pdfplumber.open(path) as stock, pdfplumber.open(path) as lean:
        leanchars.make_lean(lean)
        assert all(type(p) is leanchars.LeanPage for p in lean.pages)
        _assert_same_objects(stock, lean, path.name)


def _assert_same_objects(stock, lean, name, *, playa=False):
    for a, b in zip(stock.pages, lean.pages):
        oa, ob = a.objects, b.objects
        assert list(oa) == list(ob)
        for kind in oa:
            xs, ys = _without_stream(oa[kind]), _without_stream(ob[kind])
            if playa:  # PLAYA's arithmetic: see _playa_alike
                assert len(xs) == len(ys), (name, a.page_number, kind)
                ys = [_playa_alike(x, y, (name, a.page_number, kind)) for x, y in zip(xs, ys)]
            assert xs == ys, (name, a.page_number, kind)
            for x, y in zip(xs, ys):
                assert list(x) == list(y)  # same keys in the same order
                assert [type(v) for v in x.values()] == [type(v) for v in y.values()]


def _close(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= 1e-9 * max(1.0, abs(a))
    if isinstance(a, (tuple, list)) and type(a) is type(b) and len(a) == len(b):
        return all(_close(x, y) for x, y in zip(a, b))
    return a == b


def _playa_alike(x: dict, y: dict, where) -> dict:
    """y with the values that differ only as PLAYA's arithmetic does taken from x, after
    checking they are that close. Two kinds: coordinates computed in another order (a
    difference in the 15th digit, e.g. 89.784 against 89.78399999999999, far below any
    tolerance pdfplumber or we cluster with), and `linewidth` on a page that never sets one
    (pdfminer reports 0, PLAYA the PDF default 1.0; nothing reads it)."""
    out = dict(y)
    for k, v in x.items():
        w = y.get(k)
        if v == w and type(v) is type(w):
            continue
        if k == "linewidth" and v == 0 and w == 1.0:
            out[k] = v
        elif _close(v, w):
            out[k] = v
        else:
            raise AssertionError((where, k, v, w))
    return out


@pytest.mark.skipif(not (leanchars.ENABLED and playaobjects.ENABLED), reason="not the checked pdfplumber/PLAYA")
@pytest.mark.parametrize("path", PDFS, ids=lambda p: p.name)
def test_playa_objects_equal_pdfplumber(path: Path):
    """Every object dict PLAYA's reading gives is pdfplumber's own (pages PLAYA cannot map
    exactly are read by pdfminer, and are then equal too)."""
    with pdfplumber.open(path) as stock, pdfplumber.open(path) as fast:
        leanchars.make_lean(fast, path)
        assert all(p._playa is not None for p in fast.pages)
        _assert_same_objects(stock, fast, path.name, playa=True)


def test_playa_and_pdfminer_give_the_same_pages(monkeypatch):
    """What acquisition makes of a text layer (text, tables, decisions, repairs) is the same
    whichever reads the objects: the born-digital and garbled samples."""
    from congvan.config import Settings
    from congvan.pipeline.acquire import acquire

    s = Settings(ocr_cache="off")
    paths = sorted(SAMPLES.glob("*-text.pdf")) + sorted(SAMPLES.glob("*-garbled.pdf"))
    fast = [acquire(p, s).pages for p in paths]
    monkeypatch.setattr(playaobjects, "ENABLED", False)
    assert [acquire(p, s).pages for p in paths] == fast


def test_playa_reads_most_pages():
    """The fast reading is the one used: on the sample text layers no page falls back."""
    for path in sorted(SAMPLES.glob("*-text.pdf")) + sorted(SAMPLES.glob("*-garbled.pdf")):
        with pdfplumber.open(path) as pdf:
            doc = playaobjects.open_document(path)
            for page, twin in zip(pdf.pages, doc.pages):
                assert playaobjects.page_objects(page, twin)["char"], (path.name, page.page_number)


def test_playa_falls_back_where_widths_differ():
    """A standard-font glyph without a width (PLAYA 1000 units, pdfminer 0) is not mapped: the
    page goes to pdfminer instead of placing the glyphs after it elsewhere."""
    from reportlab.pdfgen import canvas
    import io

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.setFont("Helvetica", 12)
    c.drawString(100, 700, "ti\u20acm v")  # the Euro sign has no width in Helvetica's AFM
    c.save()
    with pdfplumber.open(io.BytesIO(buf.getvalue())) as stock, pdfplumber.open(io.BytesIO(buf.getvalue())) as fast:
        doc = playaobjects.open_document(buf)
        with pytest.raises(playaobjects.NotMapped):
            playaobjects.page_objects(fast.pages[0], doc.pages[0])
        leanchars.make_lean(fast, buf)
        _assert_same_objects(stock, fast, "euro", playa=True)


@pytest.mark.skipif(not leanchars.ENABLED, reason="pdfplumber is not the version leanchars was checked against")
def test_lean_objects_with_shifted_mediabox_and_unicode_norm(tmp_path):
    """Branches the corpus does not reach: a MediaBox not at the origin, pdfplumber's unicode_norm."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import RectangleObject
    from reportlab.pdfgen import canvas

    plain = tmp_path / "plain.pdf"
    c = canvas.Canvas(str(plain))
    c.setFont("Helvetica", 12)
    c.drawString(150, 700, "Ky ten \u00e9 \u00c5 fi")
    c.line(120, 650, 400, 650)
    c.rect(130, 500, 200, 100)
    c.save()
    writer = PdfWriter()
    for page in PdfReader(plain).pages:
        page.mediabox = RectangleObject([100, 40, 520, 800])
        writer.add_page(page)
    shifted = tmp_path / "shifted.pdf"
    with open(shifted, "wb") as fh:
        writer.write(fh)
    for norm in (None, "NFD"):
        with pdfplumber.open(shifted, unicode_norm=norm) as stock, pdfplumber.open(shifted, unicode_norm=norm) as lean:
            leanchars.make_lean(lean)
            assert stock.pages[0].mediabox[0] == 100 and stock.pages[0].chars
            _assert_same_objects(stock, lean, f"shifted {norm}")
        with pdfplumber.open(shifted, unicode_norm=norm) as stock, pdfplumber.open(shifted, unicode_norm=norm) as fast:
            leanchars.make_lean(fast, shifted)
            assert fast.pages[0]._playa is not None
            _assert_same_objects(stock, fast, f"shifted {norm} (PLAYA)", playa=True)


def test_lean_page_left_alone_under_another_pdfplumber(monkeypatch):
    monkeypatch.setattr(leanchars, "ENABLED", False)
    with pdfplumber.open(SAMPLES / "000-text.pdf") as pdf:
        leanchars.make_lean(pdf)
        assert all(type(p) is pdfplumber.page.Page for p in pdf.pages)


@pytest.mark.parametrize("path", PDFS, ids=lambda p: p.name)
def test_text_words_and_tables_as_pdfplumber_gives_them(path: Path):
    with pdfplumber.open(path) as pdf:
        for page in pdf.pages:
            text, words = _text_and_words(page)
            assert text == (page.extract_text() or "")
            assert words == page.extract_words(use_text_flow=False)
            grid = _Grid(page)
            _layer_text(page, grid)  # reads the tables first, as the decision does
            expected = [[[nfc(c) if c else c for c in row] for row in t] for t in page.extract_tables()]
            assert _tables(page, grid) == expected
            view = page.filter(lambda o: True)  # a view reads its own glyphs through the same grid
            assert _tables(view, grid) == expected


# --------------------------------------------------------------------------- hidden blanks
def _hidden_plain(chars: list[dict]) -> set[int]:
    """The per-blank loop `_without_hidden_spaces` used to run."""
    vis = [c for c in chars if c["text"].strip()]
    if not vis or len(vis) == len(chars):
        return set()
    x0 = np.array([c["x0"] for c in vis])
    x1 = np.array([c["x1"] for c in vis])
    mid = np.array([(c["top"] + c["bottom"]) / 2 for c in vis])
    hidden = set()
    for c in chars:
        if c["text"].strip():
            continue
        w = max(c["x1"] - c["x0"], 0.1)
        cm = (c["top"] + c["bottom"]) / 2
        same_line = np.abs(mid - cm) < max(c["bottom"] - c["top"], 1.0) / 2
        overlap = np.minimum(x1, c["x1"]) - np.maximum(x0, c["x0"])
        if np.any(same_line & (overlap > 0.5 * w)):
            hidden.add(id(c))
    return hidden


class _Chars:
    """Just enough of a pdfplumber page for `_without_hidden_spaces`."""

    def __init__(self, chars):
        self.chars = chars

    def filter(self, keep):
        return _Chars([c for c in self.chars if keep(c)])


def _glyph(text, x0, top, w, h):
    return {"text": text, "x0": x0, "x1": x0 + w, "top": top, "bottom": top + h}


@pytest.mark.parametrize("seed", range(40))
def test_hidden_blanks_as_the_plain_loop(seed):
    rnd = random.Random(seed)
    chars = []
    for line in range(rnd.randint(1, 12)):
        top = 40 + line * rnd.choice([6.0, 11.5, 14.0]) + rnd.uniform(-0.8, 0.8)  # some lines overlap
        x = 50.0
        for _ in range(rnd.randint(1, 40)):
            h = rnd.choice([1.0, 0.5, 10.0, 12.5, 13.0])
            w = rnd.choice([0.0, 3.0, 6.5, 7.25])
            text = rnd.choice(["a", "ư", "1", " ", " ", "", "\u00a0"])
            chars.append(_glyph(text, x, top + rnd.choice([0.0, 0.25, -2.0, 6.0]), w, h))
            x += rnd.choice([w, w / 2, 0.0, -w, 2.5])  # overprints and gaps
    rnd.shuffle(chars)
    expected = _hidden_plain(chars)
    got = _without_hidden_spaces(_Chars(chars))
    assert {id(c) for c in chars} - {id(c) for c in got.chars} == expected


def test_overprinted_placeholder_is_dropped(tmp_path):
    """An e-office number stamped over blank placeholders reads without the blanks."""
    from reportlab.pdfgen import canvas

    path = tmp_path / "stamp.pdf"
    c = canvas.Canvas(str(path))
    c.setFont("Helvetica", 13)
    c.drawString(60, 780, "So:          /UBND-VP")
    c.drawString(60 + c.stringWidth("So: ", "Helvetica", 13), 780, "143")
    c.drawString(60, 760, "Kinh gui: So Noi vu")
    c.save()
    with pdfplumber.open(path) as pdf:
        page = pdf.pages[0]
        assert _hidden_plain(page.chars)  # the case is there
        kept = _without_hidden_spaces(page)
        assert {id(ch) for ch in page.chars} - {id(ch) for ch in kept.chars} == _hidden_plain(page.chars)
        assert "143" in kept.extract_text()


# --------------------------------------------------------------------------- ink mask
def _mask_plain(shape, chars, scale):
    """The per-glyph slice painting `ink_coverage` used to do."""
    mask = np.zeros(shape, dtype=bool)
    h, w = shape
    for c in chars:
        x0 = max(0, int(c["x0"] * scale) - 1)
        x1 = min(w, int(c["x1"] * scale) + 2)
        y0 = max(0, int(c["top"] * scale) - 1)
        y1 = min(h, int(c["bottom"] * scale) + 2)
        if x1 > x0 and y1 > y0:
            mask[y0:y1, x0:x1] = True
    return mask


@pytest.mark.parametrize("seed", range(30))
def test_glyph_mask_as_the_plain_loop(seed):
    rnd = random.Random(seed)
    shape = (rnd.randint(1, 60), rnd.randint(1, 60))
    chars = []
    for _ in range(rnd.randint(0, 80)):
        x0 = rnd.choice([rnd.uniform(-30, 130), -1e30, 1e30, -0.4, 0.0])
        top = rnd.choice([rnd.uniform(-30, 130), -5.0, 1e20])
        chars.append({"x0": x0, "x1": x0 + rnd.choice([0.0, 2.0, 9.5, -3.0, 500.0]),
                      "top": top, "bottom": top + rnd.choice([0.0, 4.0, 11.0, -2.0])})
    scale = rnd.choice([40 / 72, 0.5, 1.0])
    assert (_glyph_mask(shape, chars, scale) == _mask_plain(shape, chars, scale)).all()


def test_glyph_mask_fails_as_int_did_on_nan():
    with pytest.raises(ValueError):
        _glyph_mask((10, 10), [{"x0": float("nan"), "x1": 1.0, "top": 0.0, "bottom": 1.0}], 1.0)
    with pytest.raises(OverflowError):
        _glyph_mask((10, 10), [{"x0": 0.0, "x1": float("inf"), "top": 0.0, "bottom": 1.0}], 1.0)
