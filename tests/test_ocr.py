"""OCR helpers and OCR post-correction: fast checks (no tesseract) plus one small real OCR run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from congvan.pipeline.bench_ocr import bag_cer, cer, wer
from congvan.pipeline.ocr import _tsv_to_text, estimate_skew, ocr_image, to_grey
from congvan.pipeline.postcorrect import postcorrect

FONT = Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf")


@pytest.mark.parametrize(
    "wrong,right",
    [("ứii", "thi"), ("ửiực", "thực"), ("tìiôn", "thôn"), ("Chrnh", "Chính"), ("đorn", "đơn"),
     ("khen ứiưởng", "khen thưởng"), ("tiêp", "tiếp")],
)
def test_confusions_fixed(wrong, right):
    """The token alone (no context), as the pipeline's single post-corrector sees a lone word."""
    assert postcorrect(wrong).text == right


@pytest.mark.parametrize("word", ["Vê", "thi", "UBND", "cơ", "trường", "Index", "HĐND"])
def test_valid_or_foreign_words_untouched(word):
    assert postcorrect(word).changes == []


def test_structure_repairs():
    out = postcorrect("Số: 6794BND-TH Thái Bình, ngày99 tháng 3 năm2024. Độc !ập - Tự do").text
    assert "679/UBND-TH" in out
    assert "ngày 99 tháng 3 năm 2024" in out
    assert "Độc lập" in out


def test_structure_repairs_leave_good_text():
    good = "Số: 679/UBND-TH ngày 15 tháng 3 năm 2024; 4 BND là không có thật"
    assert postcorrect(good).text == good


def test_red_channel_drops_red_stamp():
    img = Image.new("RGB", (200, 100), "white")
    d = ImageDraw.Draw(img)
    d.rectangle((10, 10, 90, 90), fill=(220, 30, 30))  # seal red
    d.rectangle((110, 10, 190, 90), fill=(0, 0, 0))  # print black
    g = np.asarray(to_grey(img, "red"))
    assert g[50, 50] > 200 and g[50, 150] < 30
    assert np.asarray(to_grey(img, "luma"))[50, 50] < 120


def test_skew_estimate():
    img = Image.new("L", (800, 600), 255)
    d = ImageDraw.Draw(img)
    for y in range(60, 560, 25):
        d.rectangle((60, y, 740, y + 8), fill=0)
    assert abs(estimate_skew(img)) < 0.3
    assert abs(estimate_skew(img.rotate(2.0, fillcolor=255)) + 2.0) <= 0.5


def test_tsv_reading_order_and_confidence():
    data = {"text": ["Kính", "gửi:", "", "Sở", "Nội", "vụ"], "conf": [90, 80, -1, 70, 60, "50"],
            "block_num": [1, 1, 1, 2, 2, 2], "par_num": [1, 1, 1, 1, 1, 1], "line_num": [1, 1, 1, 1, 1, 2]}
    text, conf = _tsv_to_text(data)
    assert text == "Kính gửi:\n\nSở Nội\nvụ"
    assert abs(conf - 0.7) < 1e-9


def test_metrics():
    assert cer("abc", "abc") == 0 and cer("abcd", "abXd") == 0.25
    assert wer("a b c d", "a b x d") == 0.25
    assert bag_cer("x y\nz", "z x y") == 0


def test_ocr_reads_vietnamese_line():
    if not FONT.exists():
        pytest.skip("Liberation Serif not installed")
    img = Image.new("RGB", (1500, 140), "white")
    ImageDraw.Draw(img).text((30, 40), "Cộng hòa xã hội chủ nghĩa Việt Nam", font=ImageFont.truetype(str(FONT), 48),
                             fill="black")
    res = ocr_image(img, "vie", timeout=60)
    assert "Cộng hòa xã hội chủ nghĩa Việt Nam" in res.text
    assert res.confidence > 0.7


def test_second_readings_only_for_pages_read_badly(monkeypatch):
    from congvan.pipeline import ocr

    monkeypatch.setattr(ocr, "installed_languages", lambda: frozenset({"vie", "osd", "Vietnamese"}))
    colour = Image.new("RGB", (40, 30), "white")
    grey = colour.convert("L")
    assert ocr._retries(colour, grey, 0.95, "red", "vie", 0, 0.0) == []  # clean page: nothing more
    assert [lang for _, lang in ocr._retries(colour, grey, 0.90, "red", "vie", 0, 0.0)] == ["vie+Vietnamese"]
    bad = ocr._retries(colour, grey, 0.60, "red", "vie", 0, 0.0)
    assert [lang for _, lang in bad] == ["vie+Vietnamese", "vie+Vietnamese"]
    assert bad[0][0].mode == "L" and bad[0][0] is not grey and bad[1][0] is grey  # luminance first
    assert [lang for _, lang in ocr._retries(grey, grey, 0.60, "red", "vie", 0, 0.0)] == ["vie+Vietnamese"]
    monkeypatch.setattr(ocr, "installed_languages", lambda: frozenset({"vie"}))
    assert ocr._retries(grey, grey, 0.60, "red", "vie", 0, 0.0) == []  # model not installed
    luma_only = ocr._retries(colour, grey, 0.60, "red", "vie", 0, 0.0)  # ... but luminance still helps
    assert [lang for _, lang in luma_only] == ["vie"] and luma_only[0][0] is not grey


def test_ocr_result_carries_word_confidences_for_postcorrection():
    if not FONT.exists():
        pytest.skip("Liberation Serif not installed")
    from congvan.pipeline.postcorrect import confidences_from_tsv

    img = Image.new("RGB", (1500, 140), "white")
    ImageDraw.Draw(img).text((30, 40), "Ủy ban nhân dân tỉnh", font=ImageFont.truetype(str(FONT), 48), fill="black")
    res = ocr_image(img, "vie", timeout=60)
    confs = confidences_from_tsv(res.words, res.text)
    assert res.words is not None and len(confs) >= 4 and all(0 <= c <= 1 for c in confs.values())


def _text_page(size=(1240, 1754), lines=28) -> Image.Image:
    """A synthetic upright page: ragged horizontal text lines with blank gaps between them."""
    img = Image.new("L", size, 255)
    d = ImageDraw.Draw(img)
    rng = np.random.default_rng(7)
    y = 120
    for _ in range(lines):
        x = 100
        right = int(rng.integers(800, 1140))
        while x < right:
            w = int(rng.integers(20, 90))
            d.rectangle((x, y, min(x + w, right), y + 22), fill=0)
            x += w + int(rng.integers(10, 18))
        y += 52
    return img


def test_sideways_check_fires_only_on_turned_pages():
    """Upright pages (also one with a second column) do not pay an OSD pass; turned ones do."""
    from congvan.pipeline.ocr import looks_sideways

    page = _text_page()
    assert not looks_sideways(page)
    assert looks_sideways(page.rotate(90, expand=True, fillcolor=255))
    assert looks_sideways(page.rotate(270, expand=True, fillcolor=255))
    assert not looks_sideways(page.rotate(180, expand=True, fillcolor=255))  # left to the low-confidence check
    assert not looks_sideways(Image.new("L", (600, 800), 255))  # blank page


def test_upright_page_read_well_runs_no_osd(monkeypatch):
    """OSD (a second tesseract pass) runs only for a sideways-looking page or a bad first reading."""
    from congvan.pipeline import ocr

    osd_calls = []
    monkeypatch.setattr(ocr, "detect_orientation", lambda img, timeout: osd_calls.append(1) or 0)
    good = {"text": ["Kính", "gửi", "Sở", "Nội", "vụ", "tỉnh"], "conf": [96] * 6, "block_num": [1] * 6,
            "par_num": [1] * 6, "line_num": [1] * 6}
    monkeypatch.setattr(ocr, "tesseract_words", lambda img, lang, psm, timeout: good)
    monkeypatch.setattr(ocr, "installed_languages", lambda: frozenset({"vie"}))
    res = ocr.ocr_image(_text_page().convert("RGB"), "vie")
    assert res.confidence > 0.9 and osd_calls == []
    bad = dict(good, conf=[30] * 6)
    monkeypatch.setattr(ocr, "tesseract_words", lambda img, lang, psm, timeout: bad)
    ocr.ocr_image(_text_page().convert("RGB"), "vie")
    assert osd_calls == [1]


def test_tesseract_gets_ppm_not_png(monkeypatch):
    """Through the CLI (no libtesseract, or CONGVAN_TESSERACT_INPROCESS=0) pytesseract saves its temp
    file in `image.format`: PPM (ms) instead of PNG (~1 s a page)."""
    import pytesseract

    from congvan.pipeline import ocr

    monkeypatch.setattr(ocr, "_engine", lambda: None)
    seen = []

    def fake(img, **kw):
        seen.append(img.format)
        return {"text": [], "conf": [], "block_num": [], "par_num": [], "line_num": []}

    monkeypatch.setattr(pytesseract, "image_to_data", fake)
    img = Image.new("L", (50, 40), 255)
    ocr.tesseract_words(img, "vie", 4, 10)
    ocr.tesseract_words(Image.new("P", (50, 40)), "vie", 4, 10)
    assert seen == ["PPM", "PPM"] and img.format is None


def test_readings_of_a_bad_page_are_arbitrated_word_by_word(monkeypatch):
    """A page read badly gets vie+Vietnamese and Vietnamese readings too; where they differ only in
    diacritics the LM picks, whichever reading won on confidence."""
    from congvan.pipeline import ocr

    def tsv(words, conf):
        n = len(words)
        return {"text": words, "conf": [conf] * n, "left": [100 * i for i in range(n)], "top": [10] * n,
                "width": [90] * n, "height": [30] * n, "block_num": [1] * n, "par_num": [1] * n,
                "line_num": [1] * n}

    by_lang = {"vie": tsv(["phong", "trào", "thi", "đua", "yếu", "nước"], 85),
               "vie+Vietnamese": tsv(["phong", "trào", "thì", "đua", "yếu", "nước"], 90),
               "Vietnamese": tsv(["phong", "trào", "thì", "đua", "yêu", "nước"], 80)}
    asked = []
    monkeypatch.setattr(ocr, "tesseract_words", lambda img, lang, psm, timeout: asked.append(lang) or by_lang[lang])
    monkeypatch.setattr(ocr, "installed_languages", lambda: frozenset({"vie", "Vietnamese"}))
    monkeypatch.setattr(ocr, "detect_orientation", lambda img, timeout: 0)
    monkeypatch.setattr(ocr, "THIRD_READING", False)
    res = ocr.ocr_image(Image.new("L", (600, 80), 255), "vie")
    assert asked == ["vie", "vie+Vietnamese"]
    assert res.text == "phong trào thi đua yếu nước"  # both models read "yếu": nothing to choose
    asked.clear()
    monkeypatch.setattr(ocr, "THIRD_READING", True)
    res = ocr.ocr_image(Image.new("L", (600, 80), 255), "vie")
    assert asked == ["vie", "vie+Vietnamese", "Vietnamese"]
    assert res.text == "phong trào thi đua yêu nước"
    assert res.confidence == pytest.approx(0.90)  # the confident reading's layout and confidence
    asked.clear()
    by_lang["vie"] = tsv(["phong", "trào", "thi", "đua", "yêu", "nước"], 96)  # a clean page: one reading
    assert ocr.ocr_image(Image.new("L", (600, 80), 255), "vie").text == "phong trào thi đua yêu nước"
    assert asked == ["vie"]


def test_extra_model_reads_only_the_better_rendering(monkeypatch):
    """A colour page under LUMA_RETRY_CONF is read as luminance with the extra model; the red channel
    is read with it only when that did not read better (a whole pass, never the winner on samples/)."""
    from congvan.pipeline import ocr

    def tsv(words, conf):
        n = len(words)
        return {"text": words, "conf": [conf] * n, "left": [100 * i for i in range(n)], "top": [10] * n,
                "width": [90] * n, "height": [30] * n, "block_num": [1] * n, "par_num": [1] * n,
                "line_num": [1] * n}

    asked = []

    def fake(img, lang, psm, timeout):
        rendering = "luma" if img.getpixel((0, 0)) == luma_shade else "red"
        asked.append((rendering, lang))
        return tsv(["Kính", "gửi", "Sở", "Nội", "vụ"], confs[(rendering, lang)])

    page = Image.new("RGB", (600, 80), (250, 20, 20))  # red: white in the red channel, dark as luminance
    luma_shade = page.convert("L").getpixel((0, 0))
    monkeypatch.setattr(ocr, "tesseract_words", fake)
    monkeypatch.setattr(ocr, "installed_languages", lambda: frozenset({"vie", "Vietnamese"}))
    monkeypatch.setattr(ocr, "detect_orientation", lambda img, timeout: 0)
    confs = {("red", "vie"): 56, ("luma", "vie"): 72, ("red", "vie+Vietnamese"): 60, ("luma", "vie+Vietnamese"): 75}
    res = ocr.ocr_image(page, "vie")
    assert asked == [("red", "vie"), ("luma", "vie+Vietnamese")]
    assert res.confidence == pytest.approx(0.75)
    asked.clear()
    confs[("luma", "vie+Vietnamese")] = 50  # luminance read worse: the extra model reads the red channel
    res = ocr.ocr_image(page, "vie")
    assert asked == [("red", "vie"), ("luma", "vie+Vietnamese"), ("red", "vie+Vietnamese")]
    assert res.confidence == pytest.approx(0.60)


def _page_crop():
    """A real scanned page region (two header lines and some body) as the pipeline greys it."""
    import pypdfium2 as pdfium

    from congvan.pipeline.ocr import preprocess

    doc = pdfium.PdfDocument(str(Path(__file__).resolve().parent.parent / "samples" / "000-scan.pdf"))
    try:
        page = doc[0].render(scale=300 / 72).to_pil()
    finally:
        doc.close()
    grey, _ = preprocess(page, "red", deskew=False)
    return grey.crop((0, 0, grey.width, 900))


def test_in_process_tesseract_reads_exactly_as_the_cli(monkeypatch):
    """libtesseract through its C API gives the CLI's TSV and hOCR byte for byte (same model, same
    variables; a grey page's bytes handed over as they are, other modes as the same PPM decoded by
    leptonica), with two threads at once, without tesseract's own start-up each call (~0.25 CPU-s)."""
    import threading

    import pytesseract

    from congvan.pipeline import ocr

    monkeypatch.setattr(ocr, "_IN_WORKER", True)  # as in a worker process
    engine = ocr._engine()
    if engine is None:
        pytest.skip("libtesseract cannot be loaded here")
    img = _page_crop()
    with ocr._as_ppm(img) as raw:
        cli = {psm: pytesseract.image_to_data(raw, lang="vie", config=f"--psm {psm}") for psm in (4, 6)}
        cli_hocr = pytesseract.image_to_pdf_or_hocr(raw.crop((0, 0, img.width, 120)), lang="vie",
                                                    config="--psm 7 -c hocr_char_boxes=1",
                                                    extension="hocr").decode("utf-8")
    got: dict = {}

    def read(k):
        got[k] = {psm: engine.read(img, "vie", psm, 60, "tsv") for psm in (4, 6)}

    threads = [threading.Thread(target=read, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got[0] == got[1] == cli
    from congvan.pipeline.ocr_tables import _HOCR_SPAN

    mine = engine.read(img.crop((0, 0, img.width, 120)), "vie", 7, 60, "hocr")
    assert [m.groups() for m in _HOCR_SPAN.finditer(mine)] == [m.groups() for m in _HOCR_SPAN.finditer(cli_hocr)]
    assert any(m.group(2) for m in _HOCR_SPAN.finditer(mine))  # character boxes were asked for
    assert ocr.tesseract_words(img, "vie", 4, 60) == pytesseract.pytesseract.file_to_dict(cli[4], "\t", -1)
    assert img.mode == "L"  # the bytes path above; a colour image goes through leptonica's reader
    colour = img.convert("RGB").crop((0, 0, img.width, 240))
    with ocr._as_ppm(colour) as raw:
        assert engine.read(colour, "vie", 6, 60, "tsv") == pytesseract.image_to_data(raw, lang="vie", config="--psm 6")


def engine_version_in_child(path, settings) -> str:
    """Runs in an extraction worker (pool.extract's fn)."""
    from congvan.pipeline import ocr

    return ocr.engine_version()


def test_in_process_tesseract_only_in_worker_processes(tmp_path, monkeypatch):
    """The run's own process keeps the CLI (a crash there is one killed command); a worker, behind
    the pool's re-read-alone-and-quarantine boundary, reads with libtesseract."""
    from congvan.pipeline import ocr, pool
    from conftest import data_settings

    monkeypatch.setattr(ocr, "_IN_WORKER", False)
    assert ocr._engine() is None and ocr.engine_version() == ""
    probe = ocr._Engine if hasattr(ocr, "_Engine") else None
    try:
        probe().close()
    except (OSError, AttributeError, TypeError):
        pytest.skip("libtesseract cannot be loaded here")
    s = data_settings(tmp_path, workers=2)
    assert pool.extract(tmp_path / "unused.pdf", s, fn=engine_version_in_child).startswith("5.")


def test_in_process_tesseract_can_be_turned_off(monkeypatch):
    from congvan.pipeline import ocr

    monkeypatch.setattr(ocr, "_IN_WORKER", True)
    monkeypatch.setenv("CONGVAN_TESSERACT_INPROCESS", "0")
    monkeypatch.setattr(ocr, "_ENGINE", None)
    monkeypatch.setattr(ocr, "_ENGINE_TRIED", False)
    assert ocr._engine() is None and ocr.engine_version() == ""
