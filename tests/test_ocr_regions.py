"""Text the page layout left out is read again region by region; debris is not kept."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from congvan.pipeline import ocr, ocr_regions

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")


def page(lines: list[tuple[int, int, str]], scribble: bool = False) -> Image.Image:
    img = Image.new("L", (2480, 1200), 255)
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 42)
    for x, y, text in lines:
        d.text((x, y), text, font=font, fill=0)
    if scribble:  # a signature: one long looping stroke, no letters
        t = np.linspace(0, 6 * np.pi, 400)
        pts = list(zip((1500 + 300 * t / (6 * np.pi) + 60 * np.sin(3 * t)).tolist(), (900 + 50 * np.cos(5 * t)).tolist()))
        d.line(pts, fill=0, width=6)
    return img


def words_for(img: Image.Image, box: tuple[int, int, int, int]) -> dict:
    """tesseract's reading of one part of the page only, in page coordinates (what a layout that
    dropped the rest returns)."""
    x0, y0, x1, y1 = box
    got = ocr.tesseract_words(img.crop(box), "vie", 6, 60)
    got["left"] = [v + x0 for v in got["left"]]
    got["top"] = [v + y0 for v in got["top"]]
    return got


@needs_tesseract
def test_a_block_the_layout_dropped_is_read_again():
    img = page([(200, 200, "Nơi nhận:"), (200, 260, "- Như trên;"), (1500, 200, "KT. CHỦ TỊCH"),
                (1500, 260, "PHÓ CHỦ TỊCH"), (1500, 500, "Nguyễn Văn An")])
    first = words_for(img, (150, 150, 900, 340))  # the left column only
    text_before = ocr._tsv_to_text(first)[0]
    assert "CHỦ TỊCH" not in text_before
    calls = []
    out, added = ocr_regions.recover_missed_text(
        img, first, lambda crop: calls.append(crop.size) or ocr.tesseract_words(crop, "vie", 6, 60))
    text = ocr._tsv_to_text(out)[0]
    assert added >= 2 and "KT. CHỦ TỊCH" in text and "Nguyễn Văn An" in text
    assert text.startswith(text_before)  # the first reading is kept as it was
    assert len(calls) <= ocr_regions.MAX_REGIONS


@needs_tesseract
def test_a_signature_alone_adds_nothing():
    img = page([(200, 200, "Nơi nhận:"), (200, 260, "- Như trên;")], scribble=True)
    first = words_for(img, (150, 150, 900, 340))
    out, added = ocr_regions.recover_missed_text(img, first, lambda c: ocr.tesseract_words(c, "vie", 6, 60))
    assert added == 0 and ocr._tsv_to_text(out)[0] == ocr._tsv_to_text(first)[0]


def test_a_fully_read_page_costs_no_extra_reading():
    img = page([(200, 200, "Nơi nhận:")])
    a = np.asarray(img)
    ys, xs = np.nonzero(a < 128)
    words = {"text": ["Nơi", "nhận:"], "conf": [95, 95], "left": [int(xs.min())] * 2, "top": [int(ys.min())] * 2,
             "width": [int(xs.max() - xs.min() + 1)] * 2, "height": [int(ys.max() - ys.min() + 1)] * 2,
             "block_num": [1, 1], "par_num": [1, 1], "line_num": [1, 1], "word_num": [1, 2],
             "level": [5, 5], "page_num": [1, 1]}
    out, added = ocr_regions.recover_missed_text(img, words, lambda c: pytest.fail("no region to read"))
    assert (out, added) == (words, 0)


@pytest.mark.parametrize("tokens, confs, kept", [
    (["KT.", "CHỦ", "TỊCH"], [90, 91, 92], True),
    (["'Lại", "Văn", "Hoàn", "'"], [88, 90, 93, 60], True),     # stray quote trimmed, line kept
    (["'PHÓC"], [88], False),                                      # one lone token: debris
    (["V", "BAN", "NHANFT"], [70, 80, 75], False),                # not Vietnamese enough
    (["Sở", "Nội", "vụ"], [50, 55, 60], False),                    # not sure enough
    (["UBND", "tỉnh"], [85, 90], True),                           # a code counts as readable
])
def test_which_lines_are_kept(tokens, confs, kept):
    n = len(tokens)
    words = {"text": tokens, "conf": confs, "block_num": [1] * n, "par_num": [1] * n, "line_num": [1] * n}
    assert bool(ocr_regions.sure_lines(words)) is kept


@needs_tesseract
def test_a_skipped_cell_inside_a_ruled_table_is_left_to_the_table_reader():
    img = Image.new("L", (2480, 1200), 255)
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 42)
    xs, ys = [200, 600, 1400, 2200], [200, 300, 400, 500]
    for x in xs:
        d.line([(x, ys[0]), (x, ys[-1])], fill=0, width=4)
    for y in ys:
        d.line([(xs[0], y), (xs[-1], y)], fill=0, width=4)
    cells = [(r, c, f"Ô {r}{c} thi đua") for r in range(3) for c in range(3)]
    for r, c, text in cells:
        d.text((xs[c] + 30, ys[r] + 25), text, font=font, fill=0)
    full = ocr.tesseract_words(img, "vie", 4, 60)
    # the reading without the first cell's words (what a layout that skipped it returns)
    keep = [i for i, (x, y) in enumerate(zip(full["left"], full["top"])) if not (x < 600 and 200 < y < 300)]
    first = {k: [v[i] for i in keep] for k, v in full.items()}
    assert ocr_regions.missed_regions(img, first) == []
    out, added = ocr_regions.recover_missed_text(img, first, lambda c: pytest.fail("table cells are not re-read here"))
    assert added == 0
