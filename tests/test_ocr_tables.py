"""Ruled tables on OCR'd pages (pipeline/ocr_tables.py): grid from the image, words into cells."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from congvan.pipeline import ocr_tables
from congvan.pipeline.ocr_tables import find_grids, read_tables, rule_masks

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
SAMPLES = Path(__file__).resolve().parent.parent / "samples"

# Column rules and rows of a small task table; the "II" row is one cell over the last three columns.
XS = [100, 240, 900, 1300, 1700]
HEADER = ["STT", "Nội dung", "Chủ trì", "Phối hợp"]
ROWS = [
    (HEADER, 1),
    (["1", "Ban hành kế hoạch\nthi đua năm 2024", "Sở Nội vụ", "Văn phòng\nUBND tỉnh"], 2),
    (["II", "Nhiệm vụ trong quý II"], 1),
    (["2", "Tổ chức hội nghị", "Sở Tư pháp", "Các sở"], 1),
]


class _Tsv:
    """A tesseract-like `image_to_data` dict, built while drawing: words on one drawn baseline share
    a tesseract line across cells, the way tesseract's layout reads a table."""

    def __init__(self, size: tuple[int, int]):
        self.d = {k: [] for k in ("level", "page_num", "block_num", "par_num", "line_num", "word_num",
                                  "left", "top", "width", "height", "conf", "text")}
        self._add(1, 0, 0, 0, 0, 0, *size, -1, "")
        self.lines: dict[int, int] = {}

    def _add(self, level, block, line, word, left, top, w, h, conf, text):
        for k, v in zip(("level", "page_num", "block_num", "par_num", "line_num", "word_num", "left", "top",
                         "width", "height", "conf", "text"),
                        (level, 1, block, 1, line, word, left, top, w, h, conf, text)):
            self.d[k].append(v)

    def word(self, draw: ImageDraw.ImageDraw, font, x: int, y: int, text: str, block: int = 1) -> int:
        x0, y0, x1, y1 = draw.textbbox((x, y), text, font=font)
        draw.text((x, y), text, font=font, fill=0)
        line = self.lines.setdefault(y // 10, len(self.lines) + 1)
        self._add(5, block, line, 1, x0, y0, x1 - x0, y1 - y0, 95, text)
        return x1


def _draw_table(skew: float = 0.0, with_text: bool = True) -> tuple[Image.Image, dict]:
    font = ImageFont.truetype(str(FONT), 30)
    img = Image.new("L", (1800, 1300), 255)
    draw = ImageDraw.Draw(img)
    tsv = _Tsv(img.size)

    def words_at(x: int, y: int, text: str, block: int = 1) -> None:
        for k, line in enumerate(text.split("\n")):
            cx = x
            for w in line.split():
                cx = tsv.word(draw, font, cx, y + 44 * k, w, block) + 12

    words_at(100, 60, "KẾ HOẠCH công tác năm 2024", block=1)
    draw.line([(600, 110), (900, 110)], fill=0, width=3)  # an underline under the title: not a table
    y = 200
    ys = [y]
    for cells, n_lines in ROWS:
        h = 30 + 44 * n_lines
        if with_text:
            for c, text in enumerate(cells):
                words_at(XS[c] + 14, y + 14, text, block=2)
        y += h
        ys.append(y)
    for yy in ys:
        draw.line([(XS[0], yy), (XS[-1], yy)], fill=0, width=3)
    merged_row = next(i for i, (cells, _) in enumerate(ROWS) if len(cells) == 2)
    for k, x in enumerate(XS):
        if k >= 2:  # the merged row has no rules between its last three columns
            draw.line([(x, ys[0]), (x, ys[merged_row])], fill=0, width=3)
            draw.line([(x, ys[merged_row + 1]), (x, ys[-1])], fill=0, width=3)
        else:
            draw.line([(x, ys[0]), (x, ys[-1])], fill=0, width=3)
    if with_text:
        words_at(100, y + 60, "Nơi nhận: như trên", block=3)
    data = tsv.d
    if skew:
        img, data = _rotate(img, data, skew)
    return img, data


def _rotate(img: Image.Image, data: dict, angle: float) -> tuple[Image.Image, dict]:
    """The page turned by `angle` degrees (under the OCR's deskew threshold) with its word boxes."""
    out = img.rotate(angle, resample=Image.BICUBIC, fillcolor=255)
    cx, cy = img.width / 2, img.height / 2
    a = np.radians(angle)
    moved = {k: list(v) for k, v in data.items()}
    for i, lv in enumerate(data["level"]):
        if lv != 5:
            continue
        x = data["left"][i] + data["width"][i] / 2 - cx
        y = data["top"][i] + data["height"][i] / 2 - cy
        nx = x * np.cos(a) + y * np.sin(a) + cx  # PIL turns counter-clockwise on screen (y down)
        ny = -x * np.sin(a) + y * np.cos(a) + cy
        moved["left"][i] = int(nx - data["width"][i] / 2)
        moved["top"][i] = int(ny - data["height"][i] / 2)
    return out, moved


def _expected_rows() -> list[list]:
    out = []
    for cells, _ in ROWS:
        out.append(cells + [None] * (4 - len(cells)) if len(cells) < 4 else list(cells))
    return out


def test_grid_found_with_merged_cell_and_underline_ignored():
    img, data = _draw_table(with_text=False)
    ink = ocr_tables._ink(np.asarray(img))
    h, v = rule_masks(ink, 30)
    grids = find_grids(h, v, 30)
    assert len(grids) == 1  # the title underline alone is no table
    g = grids[0]
    assert (g.nrows, g.ncols) == (4, 4)
    assert all(abs(a - b) <= 3 for a, b in zip(g.xs, XS))
    cells = g.cells()
    assert cells[(2, 1)] == (2, 1, 2, 3)  # "Nhiệm vụ trong quý II" spans three columns
    assert (2, 2) not in cells and (2, 3) not in cells
    assert cells[(1, 3)] == (1, 3, 1, 3)


def test_words_read_cell_by_cell_in_text_layer_shape():
    img, data = _draw_table()
    got = read_tables(img, data)
    assert got is not None
    assert got.tables == [_expected_rows()]
    lines = got.text.split("\n")
    assert lines[0] == "KẾ HOẠCH công tác năm 2024"  # text above the table comes first
    assert "STT\tNội dung\tChủ trì\tPhối hợp" in lines
    assert "1\tBan hành kế hoạch thi đua năm 2024\tSở Nội vụ\tVăn phòng UBND tỉnh" in lines
    assert "II\tNhiệm vụ trong quý II\t\t" in lines
    assert lines[-1] == "Nơi nhận: như trên"
    # the word dict follows the new text, so word confidences still line up with it
    assert " ".join(w for w in got.words["text"] if w.strip()) == " ".join(got.text.split())


def test_residual_skew_is_levelled():
    img, data = _draw_table(skew=1.2)
    got = read_tables(img, data)
    assert got is not None
    assert got.tables == [_expected_rows()]


def test_rule_read_as_bar_and_page_without_table():
    img, data = _draw_table()
    # tesseract often reads a vertical rule as "|" or "I": the box lies on the rule, the word is dropped
    for k, v in zip(data, (5, 1, 2, 1, 9, 1, XS[2] - 3, 330, 8, 40, 90, "I")):
        data[k].append(v)
    got = read_tables(img, data)
    assert got.tables == [_expected_rows()]

    blank = Image.new("L", (1200, 800), 255)
    draw = ImageDraw.Draw(blank)
    tsv = _Tsv(blank.size)
    tsv.word(draw, ImageFont.truetype(str(FONT), 30), 100, 100, "Kính gửi")
    draw.rectangle([50, 50, 1100, 700], outline=0, width=3)  # a page frame: one cell is not a table
    assert read_tables(blank, tsv.d) is None


@dataclass
class _Change:
    start: int
    end: int
    after: str


def test_corrected_tables_follow_post_correction():
    img, data = _draw_table()
    got = read_tables(img, data)
    i = got.text.index("Sở Nội vụ")
    fixed = got.corrected_tables([_Change(i, i + 2, "Sở Sở")])  # a change that lengthens the text
    assert fixed[0][1][2] == "Sở Sở Nội vụ"
    assert fixed[0][1][3] == "Văn phòng\nUBND tỉnh"  # a later, untouched cell: as read, line break kept
    j = got.text.index("Các sở")
    fixed = got.corrected_tables([_Change(i, i + 2, "Sở Sở"), _Change(j, j + 3, "Mọi")])
    assert fixed[0][3][3] == "Mọi sở"  # an edit after a longer one lands in its own cell
    assert fixed[0][2][2] is None


def test_roman_numerals_restored_only_where_they_number():
    text = {1: "H", 2: "quý", 3: "IH", 4: "Hà", 5: "1", 6: "l", 7: "nội"}
    ocr_tables._fix_roman([1], text)
    ocr_tables._fix_roman([2, 3], text)
    ocr_tables._fix_roman([4], text)
    ocr_tables._fix_roman([5], text)
    ocr_tables._fix_roman([7, 6], text)  # "l" after an ordinary word stays
    assert (text[1], text[3], text[4], text[5], text[6]) == ("II", "III", "Hà", "1", "l")


def test_reread_pieces_cut_between_crops_and_at_spaces():
    places = [(10, 0, 20), (66, 0, 20), (122, 0, 60)]  # three crops on the strip
    ink = np.zeros((40, 200), dtype=bool)
    ink[:, 10:30] = ink[:, 66:86] = True
    ink[:, 122:145] = ink[:, 160:182] = True  # two words in the last crop, 15 px apart
    read = [(90.0, [(10, 5, 30, 35, "3"), (66, 5, 86, 35, "4"), (122, 5, 133, 35, "S"),
                    (134, 5, 145, 35, "ố"), (160, 5, 171, 35, "T"), (171, 5, 182, 35, "T")])]
    got = ocr_tables._pieces_by_place(read, places, 36, ink, space=9)
    assert [p[5] for p in got[0]] == ["3"]
    assert [p[5] for p in got[1]] == ["4"]
    assert [p[5] for p in got[2]] == ["Số", "TT"]


def test_real_tesseract_on_a_drawn_table():
    """The whole path with tesseract: its own word boxes, then the grid."""
    from congvan.pipeline.ocr import ocr_image

    img, _ = _draw_table()
    res = ocr_image(img.convert("RGB"), "vie", timeout=120)
    got = read_tables(img, res.words, res.rotated, res.angle)
    assert got is not None and len(got.tables) == 1
    rows = got.tables[0]
    assert len(rows) == 4 and all(len(r) == 4 for r in rows)
    assert rows[1][2] == "Sở Nội vụ" and rows[3][2] == "Sở Tư pháp"
    assert rows[2][2:] == [None, None]
    assert "kế hoạch" in rows[1][1] and "UBND" in rows[1][3]


@pytest.mark.skipif(not (SAMPLES / "001-scan.pdf").exists(), reason="sample scan not present")
def test_scanned_task_table_page():
    """A real scan (page 5 of the Điện Biên plan): numbering cells tesseract's layout skipped are
    read again, and each row's lead unit sits in its own cell."""
    import pypdfium2 as pdfium

    from congvan.pipeline.ocr import ocr_image

    pdf = pdfium.PdfDocument(str(SAMPLES / "001-scan.pdf"))
    img = pdf[4].render(scale=300 / 72).to_pil()
    res = ocr_image(img, "vie", timeout=120)
    got = read_tables(img, res.words, res.rotated, res.angle)
    assert got is not None and len(got.tables) == 1
    rows = got.tables[0]
    assert all(len(r) == 4 for r in rows)
    assert [r[0] for r in rows[1:6]] == ["8", "9", "10", "11", "12"]
    group = [r for r in rows if r[2] is None]
    assert [r[0] for r in group] == ["II", "III"]
    assert sum(" ".join((r[2] or "").split()) == "Sở Nội vụ (Ban Thi đua, khen thưởng)" for r in rows) >= 8


def test_components_labelled_inside_the_ink_box_match_the_full_call():
    """`_components` labels only the box holding ink: same count, stats, centroids and labels."""
    import cv2

    from congvan.pipeline.ocr_tables import _components

    mask = np.zeros((300, 400), np.uint8)
    mask[50:53, 60:300] = 255
    mask[120:200, 310:313] = 255
    mask[250, 100] = 255
    n, labels, stats, cents = _components(mask)
    n0, labels0, stats0, cents0 = cv2.connectedComponentsWithStats(mask, connectivity=8)
    assert n == n0 == 4
    assert (labels == labels0).all() and (stats == stats0).all() and np.allclose(cents[1:], cents0[1:])
    assert _components(np.zeros((20, 30), np.uint8))[0] == 1  # an empty mask: background only


def test_cell_strip_goes_to_tesseract_as_ppm(monkeypatch):
    """Through the CLI, the re-read strip is handed over as PPM/PGM like the pages (pytesseract would
    write a PNG)."""
    import pytesseract

    from congvan.pipeline import ocr

    monkeypatch.setattr(ocr, "_engine", lambda: None)
    seen = []

    def fake(img, **kw):
        seen.append(img.format)
        return b"<span class='ocrx_word' id='w' title='bbox 0 0 9 9; x_wconf 91'>"

    monkeypatch.setattr(pytesseract, "image_to_pdf_or_hocr", fake)
    strip = Image.new("L", (80, 20), 255)
    assert ocr_tables._tesseract_chars(strip, "vie", 10) == []  # a word without character boxes: nothing
    assert seen == ["PPM"] and strip.format is None


def test_median_from_histogram_equals_numpy():
    from congvan.pipeline.ocr_tables import _median_u8

    rng = np.random.default_rng(3)
    for shape in [(1,), (2,), (3, 3), (4, 5), (64, 33)]:
        for _ in range(10):
            a = rng.integers(0, 256, size=shape, dtype=np.uint8)
            assert _median_u8(a) == float(np.median(a))
    assert _median_u8(np.array([[0, 255]], np.uint8)) == 127.5  # even count: the two middle values' mean
