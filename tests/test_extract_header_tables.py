"""Every row of the rule tables in extractors/data does what it says (a test per rule)."""
import re

import pytest

from congvan.extractors import tables
from congvan.extractors.header import (case_body, expand_codes, extract_header, match_doc_type_title, motto_spans,
                                       repair_locality, split_locality)
from congvan.extractors.signer import case_title, name_shape
from congvan.extractors.spans import EXACT, fold
from congvan.pipeline.document import Document


@pytest.mark.parametrize("code, title, name", tables.doc_types())
def test_doc_type_row(code, title, name):
    assert match_doc_type_title(title) == code
    assert fold(name) == fold(title)
    doc = Document.from_text(f"ỦY BAN NHÂN DÂN\nTỈNH ĐIỆN BIÊN\nSố: 9/XX-UBND\n{title}\nNội dung\n")
    assert extract_header(doc)["doc_type"].value == code


def test_doc_type_codes_unique():
    codes = [c for c, _, _ in tables.doc_types()]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("prefix, pattern", tables.signing_prefixes())
def test_signing_prefix_row(prefix, pattern):
    assert pattern.fullmatch(prefix)
    assert pattern.fullmatch(prefix.replace(".", ","))  # OCR reads the dot as a comma


@pytest.mark.parametrize("upper, cased", sorted(tables.titles().items()))
def test_title_row(upper, cased):
    assert case_title(upper) == cased
    assert case_title("PHÓ " + upper) == "Phó " + cased


@pytest.mark.parametrize("kind, mark, value", tables.marks())
def test_mark_row(kind, mark, value):
    h = extract_header(Document.from_text(f"BỘ NỘI VỤ\nSố: 1/BNV-VP\n{mark}\nV/v thử\n"))
    assert h[kind].value == value


@pytest.mark.parametrize("word, cased, level", tables.admin_units())
def test_admin_unit_row(word, cased, level):
    name, unit = split_locality(f"ỦY BAN NHÂN DÂN {word} AN PHÚ")
    assert name == "ỦY BAN NHÂN DÂN"
    assert unit[:2] == (cased, level) and unit[2] == "An Phú"


@pytest.mark.parametrize("prefix, cased, kind", tables.bodies())
def test_body_row(prefix, cased, kind):
    assert case_body(prefix) == cased


@pytest.mark.parametrize("code, expansion", sorted(tables.issuer_codes().items()))
def test_issuer_code_row(code, expansion):
    assert expand_codes(f"{code} TỈNH LÂM ĐỒNG") == f"{expansion} TỈNH LÂM ĐỒNG"


@pytest.mark.parametrize("surname", sorted(tables.surnames()))
def test_surname_row(surname):
    assert name_shape(f"{surname} Văn An") == (f"{surname} Văn An", 0)


@pytest.mark.parametrize("rank", tables.ranks())
def test_rank_row(rank):
    got = name_shape(f"{rank} Nguyễn Văn An")
    assert got and got[0] == "Nguyễn Văn An"


def test_province_rows_are_distinct_without_diacritics():
    folded = [fold(p) for p in tables.provinces()]
    assert len(folded) == len(set(folded))
    for p in tables.provinces():
        assert repair_locality(p) == (p, EXACT)


@pytest.mark.parametrize("line", [
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM", "CỘNG HÒA XÃ Hội CWỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc", "Độc !ập - Tự do - Hạnh phúc", "Độc lập —- Tự do - Hạnh phúc",
    "Độc  lập - Tự do - Hạnh phúc",
])
def test_motto_rows(line):
    spans = motto_spans(f"ỦY BAN NHÂN DÂN {line}")
    assert spans and spans[0][1] == len("ỦY BAN NHÂN DÂN ") + len(line)


def test_body_starts_rows():
    from congvan.extractors.header import is_body_start
    for w in tables.body_starts():
        assert is_body_start(f"{w} nội dung")
    assert is_body_start("I. MỤC ĐÍCH") and is_body_start("1. Nội dung")
    assert not is_body_start("V/v triển khai")


def test_tables_are_nfc_and_comment_free():
    import unicodedata
    for rows in (tables.doc_types(), tables.bodies(), tables.admin_units(), tables.marks()):
        for row in rows:
            for cell in row:
                assert cell == unicodedata.normalize("NFC", cell) and not cell.startswith("#")
    assert all(re.fullmatch(r"\w+", s) for s in tables.surnames())
