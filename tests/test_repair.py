"""Repair of legacy encodings and broken font maps, and the Vietnamese validity score behind it."""
from __future__ import annotations

import unicodedata

from congvan.pipeline.quality import is_syllable, validity
from congvan.pipeline.repair import (
    best_legacy_decoding,
    decode_tcvn3,
    decode_vni,
    learn_symbol_map,
    legacy_font_family,
    nfc,
    repair_quote_pairs,
    repair_text,
)


def test_syllable_inventory():
    for ok in ["nghiêng", "thưởng", "quốc", "giữa", "Đắk", "khuỷu", "ỦY", "gì", "trưởng"]:
        assert is_syllable(ok), ok
    for bad in ["th", "ởng", "NnAx", "rn", "ứii", "Chrnh", "quu", "thươg"]:
        assert not is_syllable(bad), bad


def test_validity_separates_mojibake():
    good = "Ủy ban nhân dân tỉnh yêu cầu các sở, ban, ngành thực hiện Công văn số 59/TB-VPCP."
    bad = "s6.l1JW ruBND-NC V/v xem xdt dO nghi cria 0y ban Kinh gui: S0 NQi vu"
    assert validity(good).score > 0.95
    assert validity(bad).score < 0.6


def test_nfc():
    decomposed = unicodedata.normalize("NFD", "Tiếng Việt")
    assert decomposed != "Tiếng Việt"
    assert nfc(decomposed) == "Tiếng Việt"


def test_tcvn3_and_vni_tables():
    assert decode_tcvn3("Uû ban nh©n d©n tØnh") == "Uỷ ban nhân dân tỉnh"
    assert decode_vni("UÛy ban nhaân daân tænh") == "Ủy ban nhân dân tỉnh"


def test_legacy_detected_by_content_not_forced_on_good_text():
    choice = best_legacy_decoding("Uû ban nh©n d©n tØnh yªu cÇu c¸c së thùc hiÖn")
    assert choice.encoding == "TCVN3" and "yêu cầu các sở thực hiện" in choice.text
    good = "Ủy ban nhân dân tỉnh yêu cầu các sở thực hiện"
    assert best_legacy_decoding(good).encoding is None


def test_legacy_font_names():
    assert legacy_font_family("ABCDEF+.VnTime") == "TCVN3"
    assert legacy_font_family(".VnTimeH") == "TCVN3"
    assert legacy_font_family("VNI-Times") == "VNI"
    assert legacy_font_family("TimesNewRomanPSMT") is None


def test_symbol_map_learnt_from_text_and_case():
    text = ("khen th°ởng theo kết luận của Thủ t°ớng; Hội đồng Trung °¡ng; c¡ quan, đ¡n vị; "
            "n°ớc ta; Ban TĐKT T¯; tr°ờng học")
    smap = learn_symbol_map(text)
    assert smap.mapping == {"°": "ư", "¡": "ơ", "¯": "Ư"}
    r = repair_text(text)
    assert r.kind == "symbol-map"
    assert "Trung ương" in r.text and "Ban TĐKT TƯ" in r.text and "°" not in r.text


def test_quote_pairs_only_when_they_pair():
    assert repair_quote_pairs("chủ đề <Kỷ cương, trách nhiệm= của")[0] == "chủ đề “Kỷ cương, trách nhiệm” của"
    assert repair_quote_pairs("nếu x < 3 và y = 4")[0] == "nếu x < 3 và y = 4"


def test_repair_leaves_good_text_alone():
    good = "Nhiệt độ 30°C; chỉ số a < b = c; Ủy ban nhân dân tỉnh."
    r = repair_text(good)
    assert r.kind == "" and r.text == good


def test_tone_placement_matched_not_rewritten():
    from congvan.pipeline.quality import old_tone_style, tone_key, uses_old_tone_style

    assert tone_key("hòa") == tone_key("hoà") and tone_key("thủy") == tone_key("thuỷ")
    assert tone_key("Khỏe") == tone_key("Khoẻ")
    for same in ("của", "mùa", "quý", "hoàn", "hoặc", "thuộc", "khuya"):
        assert tone_key(same) == same  # not an oa/oe/uy open syllable: nothing to move
    assert old_tone_style("hoà bình, thuỷ lợi") == "hòa bình, thủy lợi"
    assert uses_old_tone_style("Cộng hòa, Ủy ban") and not uses_old_tone_style("Cộng hoà, Uỷ ban")


def test_symbol_map_prefers_known_syllables():
    """"Đ¢N" could be ĐƯN or ĐƠN (both well-formed); only ĐƠN is a word."""
    smap = learn_symbol_map("III. NHIỆM VỤ CỤ THỂ, THỜI GIAN, Đ¢N VỊ THỰC HIỆN")
    assert smap.mapping == {"¢": "Ơ"}


def _chars(runs):
    """pdfplumber-like char dicts for (font, text) runs on one line, 6 pt per glyph."""
    out, x = [], 0.0
    for font, text in runs:
        for ch in text:
            out.append({"text": ch, "fontname": font, "x0": x, "x1": x + 5.0, "top": 100.0, "bottom": 110.0})
            x += 6.0
    return out


def test_legacy_decoding_per_font_span():
    from congvan.pipeline.acquire import _decode_legacy_spans

    chars = _chars([("ABCDEF+TimesNewRoman", "CỘNG HÒA XÃ HỘI "), ("ABCDEF+.VnTime", "Uû ban nh©n d©n tØnh")])
    assert _decode_legacy_spans(chars) == {"ABCDEF+.VnTime": "TCVN3"}
    text = "".join(c["text"] for c in chars)
    assert text == "CỘNG HÒA XÃ HỘI Uỷ ban nhân dân tỉnh"  # the Unicode span untouched
    vni = _chars([("VNI-Times", "UÛy ban nhaân daân")])
    assert _decode_legacy_spans(vni) == {"VNI-Times": "VNI"}
    assert "".join(c["text"] for c in vni) == "Ủy ban nhân dân"
    good = _chars([("ABCDEF+Arial", "Ủy ban nhân dân tỉnh yêu cầu")])
    assert _decode_legacy_spans(good) == {} and "".join(c["text"] for c in good) == "Ủy ban nhân dân tỉnh yêu cầu"


def test_legacy_text_in_a_renamed_font_decoded_by_content(tmp_path):
    """A subset font with no legacy name, holding a Unicode header and TCVN3 body text."""
    import pytest

    reportlab = pytest.importorskip("reportlab")  # noqa: F841
    from pathlib import Path

    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    from congvan.pipeline.acquire import acquire

    font = Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf")
    if not font.exists():
        pytest.skip("Liberation Serif not installed")
    pdfmetrics.registerFont(TTFont("Serif", str(font)))
    pdf = tmp_path / "legacy.pdf"
    c = canvas.Canvas(str(pdf))
    c.setFont("Serif", 13)
    c.drawString(72, 760, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")
    c.drawString(72, 740, "Uû ban nh©n d©n tØnh yªu cÇu c¸c së thùc hiÖn")
    c.save()
    page = acquire(pdf).pages[0]
    assert page.source == "repaired_layer"
    assert page.text.splitlines() == ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Uỷ ban nhân dân tỉnh yêu cầu các sở thực hiện"]
    assert "nh©n" in page.original


SAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "samples"


def test_layer_reads_tables_by_cell_and_header_by_column():
    import pytest

    pdfplumber = pytest.importorskip("pdfplumber")
    from congvan.pipeline.acquire import _layer_text

    src = SAMPLES / "001-text.pdf"
    if not src.exists():
        pytest.skip("samples not generated")
    with pdfplumber.open(src) as pdf:
        table_page = _layer_text(pdf.pages[3])
        header = _layer_text(pdf.pages[0]).splitlines()
    rows = [r for r in table_page.splitlines() if "\t" in r]
    assert any(r.startswith("2\tBan hành Kế hoạch công tác thi đua khen thưởng năm 2024\tSở Nội vụ (Ban Thi đua, khen thưởng)")
               for r in rows)
    assert len(rows) >= 8
    # issuer column first, then the national motto column
    assert header.index("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM") > max(i for i, ln in enumerate(header) if ln.startswith("Số:"))


def test_garbled_sample_repaired_without_debris():
    import pytest

    from congvan.pipeline.acquire import acquire
    from congvan.pipeline.bench_ocr import garbled_left

    src = SAMPLES / "001-garbled.pdf"
    if not src.exists():
        pytest.skip("samples not generated")
    doc = acquire(src)
    assert all(p.source == "repaired_layer" for p in doc.pages)
    assert garbled_left(doc.text) == 0 and garbled_left("khen th°ởng <Cả nước=") == 3
    assert "ĐƠN VỊ THỰC HIỆN" in doc.text and "“Cả nước thi đua xây dựng xã hội học tập" in doc.text
