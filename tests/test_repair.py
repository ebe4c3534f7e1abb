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
