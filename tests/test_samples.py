"""The committed samples, checked from the outside (no regeneration): present, well-formed, and each
variant broken in exactly the way it is meant to be, so pipeline tests can rely on them."""
from __future__ import annotations

import functools
import re
import unicodedata

import pdfplumber
import pytest

from conftest import SAMPLES

SEEDS = ["000", "001", "002", "003", "004"]
PDF_SAMPLES = [f"{s}-{v}.pdf" for s in SEEDS for v in ("text", "garbled", "scan")] + ["004-harsh.pdf"]
IMAGE_SAMPLES = ["002-scan-p1.png", "003-scan.tiff"]
ALL_SAMPLES = PDF_SAMPLES + IMAGE_SAMPLES
A4 = (595.27, 841.89)


def _squash(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


@functools.lru_cache(maxsize=None)
def _source_parts(seed: str) -> dict[str, list[str]]:
    parts, cur = {}, None
    for line in (SAMPLES / "source" / f"{seed}.txt").read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"\[(\w+)\]", line.strip())
        if m:
            cur = parts.setdefault(m.group(1), [])
        elif cur is not None and line.strip():
            cur.append(line)
    return parts


def _plumber_pages(name: str, which: list[int]) -> list[str]:
    """Text of some pages as pdfplumber (the pipeline's reader) sees it; negative indexes count from the end."""
    with pdfplumber.open(SAMPLES / name) as pdf:
        return [pdf.pages[i].extract_text() or "" for i in which]


@functools.lru_cache(maxsize=None)
def _fast_layer(name: str) -> list[str]:
    """Same layer through pdfium (also decodes via ToUnicode), ten times faster, for whole-file checks."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(SAMPLES / name))
    try:
        return [page.get_textpage().get_text_range() for page in doc]
    finally:
        doc.close()


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_sample_and_ground_truth_exist(name):
    assert (SAMPLES / name).is_file() and (SAMPLES / name).stat().st_size > 1000
    gt = SAMPLES / (name.rsplit(".", 1)[0] + ".gt.txt")
    text = gt.read_text(encoding="utf-8")
    assert text.strip() and unicodedata.is_normalized("NFC", text)


@pytest.mark.parametrize("seed", SEEDS)
def test_text_pdf_layer_has_key_lines_and_no_garbling(seed):
    first, last = (_squash(t) for t in _plumber_pages(f"{seed}-text.pdf", [0, -1]))
    parts = _source_parts(seed)
    assert _squash(parts["number"][0]) in first
    assert _squash(parts["place_date"][0]) in first
    assert _squash(parts["signature"][-1]) in last  # signer's name
    text = " ".join(_fast_layer(f"{seed}-text.pdf"))
    assert not set("°¡¯¢") & set(text)
    assert "ư" in text and "ơ" in text


@pytest.mark.parametrize("seed", SEEDS)
def test_garbled_pdf_layer_is_garbled_like_seed_000(seed):
    text = " ".join(_fast_layer(f"{seed}-garbled.pdf"))
    assert "°" in text and "¡" in text
    assert "ư" not in text and "ơ" not in text
    assert "“" not in text and "”" not in text


@pytest.mark.parametrize("seed", SEEDS)
def test_ground_truth_pages_match_pdf_pages(seed):
    gt = (SAMPLES / f"{seed}-text.gt.txt").read_text(encoding="utf-8").split("\f")
    pages = _fast_layer(f"{seed}-text.pdf")
    assert len(gt) == len(pages)
    # same words on every page (reading order may differ: the header's two columns interleave in the layer)
    for g, p in zip(gt, pages):
        assert sorted(g.split()) == sorted(p.split())


@pytest.mark.parametrize("name", [n for n in PDF_SAMPLES if "-scan" in n or "-harsh" in n])
def test_scans_are_image_only_a4(name):
    with pdfplumber.open(SAMPLES / name) as pdf:
        assert len(pdf.pages) >= 1
        for p in pdf.pages:
            assert not p.chars
            assert len(p.images) == 1
            assert abs(p.width - A4[0]) < 1 and abs(p.height - A4[1]) < 1


def test_001_task_table_is_a_real_table():
    rows = 0
    with_table = [i for i, t in enumerate(_fast_layer("001-text.pdf")) if "Số TT" in t]
    assert with_table
    with pdfplumber.open(SAMPLES / "001-text.pdf") as pdf:
        for i in with_table:
            for t in pdf.pages[i].extract_tables():
                rows += len(t)
    assert rows >= 20


def test_image_samples_are_readable():
    from PIL import Image

    with Image.open(SAMPLES / "002-scan-p1.png") as im:
        assert im.size[0] > 1500
    with Image.open(SAMPLES / "003-scan.tiff") as im:
        assert im.n_frames == len(_fast_layer("003-text.pdf"))
