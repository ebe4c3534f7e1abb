"""Header rules, one test per rule, on small texts in the three shapes the extractor meets."""
import pytest

from congvan.extractors import extract_fields
from congvan.extractors.header import (case_body, decide_doc_type, extract_header, match_doc_type_title,
                                       repair_locality, split_locality)
from congvan.extractors.spans import Hit
from congvan.pipeline.document import Document
from congvan.schemas.record import Provenance


def hdr(text: str) -> dict:
    return {k: h.value for k, h in extract_header(Document.from_text(text)).items()}


# ---------------------------------------------------------------- number and symbol

@pytest.mark.parametrize("line, number, symbol", [
    ("Số: 1023/KH-UBND", "1023/KH-UBND", "KH-UBND"),
    ("Số:1023 / KH-UBND", "1023/KH-UBND", "KH-UBND"),  # spacing normalised
    ("Số:   /UBND-NV", None, "UBND-NV"),  # blank number
    ("Số: /UBND-VXNV", None, "UBND-VXNV"),
    ("SỐ:^/UBND-NCKS", None, "UBND-NCKS"),  # OCR debris where the number would be
    ("Só#t2đ# /UBND-NC", None, "UBND-NC"),  # unreadable handwritten number → unknown
    ("Số: 0 /BCĐX-CAT(PC04)", None, "BCĐX-CAT(PC04)"),  # 0 is not a document number
    ("Số: 03/BCĐX-CAT(PC04)", "03/BCĐX-CAT(PC04)", "BCĐX-CAT(PC04)"),
    ("Số: 12/2024/NĐ-CP", "12/2024/NĐ-CP", "NĐ-CP"),  # the year is part of the number (Nghị định 30/2020, Phụ lục I); symbol "NĐ-CP"
    ("Số 28-CT/TU", "28-CT/TU", "CT/TU"),  # Party numbering: the type code before the slash
])
def test_number_and_symbol(line, number, symbol):
    h = hdr(f"ỦY BAN NHÂN DÂN\nTỈNH ĐIỆN BIÊN\n{line}\nV/v thử nghiệm\n")
    assert h.get("number") == number
    assert h.get("symbol") == symbol


def test_number_ignores_cited_numbers_in_body():
    h = hdr("V/v triển khai\nKính gửi: Sở Nội vụ\nThực hiện Văn bản số 59/TB-VPCP ngày 20/02/2024\n")
    assert "number" not in h and "symbol" not in h


def test_number_stamped_on_the_line_above_a_blank_number():
    h = hdr("BỘ NỘI VỤ\n12094\nSố: /BNV-CCHC\nV/v hướng dẫn\n")
    assert h["number"] == "12094/BNV-CCHC"


def test_number_ignores_phone_numbers():
    assert "number" not in hdr("Số điện thoại: 0912.52.14.64\n")


# ---------------------------------------------------------------- place and date

@pytest.mark.parametrize("line, place, date", [
    ("Điện Biên, ngày 10 tháng 01 năm 2024", "Điện Biên", "2024-01-10"),
    ("Phong Thổ, ngày tháng 3 năm 2024", "Phong Thổ", "2024-03"),  # blank day
    ("Ninh Thuận, ngày      tháng 8 năm 2024", "Ninh Thuận", "2024-08"),
    ("Hà Nội, ngày tháng năm 2026", "Hà Nội", "2026"),  # blank day and month
    ("Thái Bình, ngày (ữtháng 12 năm 2024", "Thái Bình", "2024-12"),  # unreadable day → unknown
    ("Lâm Đông. ngày 9K tháng 01 năm 2026", "Lâm Đồng", "2026-01"),  # OCR place repaired, day unknown
    ("Lâm Đông, ngày99 tháng 10 năm 2025", "Lâm Đồng", "2025-10"),  # day out of range → unknown
    ("Hà Nội, ngày44tháng năm 2026", "Hà Nội", "2026"),
    ("Số: 63/CĐ-VPCP Hà Nội, ngày 11 tháng 01 năm 2026", "Hà Nội", "2026-01-11"),  # shares a line
    ("VIỆT NAM TP. Hồ Chí Minh, ngày 2 tháng 9 năm 2025", "TP. Hồ Chí Minh", "2025-09-02"),
    ("Thái Bình, ngày -tháng 12 nắm 2024", "Thái Bình", "2024-12"),  # OCR "nắm"
])
def test_place_and_date(line, place, date):
    h = hdr(f"ỦY BAN NHÂN DÂN\n{line}\n")
    assert h.get("place") == place
    assert h.get("issued_date") == date


def test_date_never_from_a_cited_document_or_bare_year():
    h = hdr("Số: 12/UBND-NV\nV/v thực hiện năm 2024\nKính gửi: Sở Nội vụ\n"
            "Thực hiện Quyết định số 5/QĐ-TTg ngày 20 tháng 10 năm 2025 của Thủ tướng;\n")
    assert "issued_date" not in h and "place" not in h


def test_repair_locality_only_when_unambiguous():
    assert repair_locality("Lâm Đông") == ("Lâm Đồng", 0.7)
    assert repair_locality("Phong Thổ")[0] == "Phong Thổ"  # not a province: kept as written


# ---------------------------------------------------------------- document type

@pytest.mark.parametrize("title, code", [
    ("KẾ HOẠCH", "KH"), ("CHỈ THỊ", "CT"), ("QUYẾT ĐỊNH", "QĐ"), ("TỜ TRÌNH", "TTr"), ("BÁO CÁO", "BC"),
    ("CÔNG ĐIỆN", "CĐ"), ("THÔNG BÁO", "TB"), ("BÁO CÁO ĐỀ XUẤT", "BCĐX"), ("KÉ HOẠCH", "KH"),
    ("GIẤY MỜI", "GM"), ("CHƯƠNG TRÌNH", "CTr"), ("HƯỚNG DẪN", "HD"),
])
def test_doc_type_from_title_table(title, code):
    assert match_doc_type_title(title) == code


def test_doc_type_title_line_wins_and_operative_quyet_dinh_is_not_a_title():
    h = hdr("ỦY BAN NHÂN DÂN\nTỈNH LÂM ĐỒNG\nSố: 5/QĐ-UBND\nQUYẾT ĐỊNH\nVề việc thành lập Ban\n"
            "Căn cứ Luật;\nQUYẾT ĐỊNH:\n")
    assert h["doc_type"] == "QĐ"


def test_doc_type_from_symbol_then_cv():
    sym = Hit("KH-UBND", 0, 7, "t")
    assert decide_doc_type(None, sym, False).value == "KH"
    assert decide_doc_type(None, Hit("UBND-NV", 0, 7, "t"), False).value == "CV"
    assert decide_doc_type(None, None, True).value == "CV"
    assert decide_doc_type(None, None, False) is None
    # a symbol code refining the title's code wins: BÁO CÁO + BCĐX-… → BCĐX
    assert decide_doc_type(Hit("BC", 0, 1, "t"), Hit("BCĐX-CAT", 2, 9, "t"), False).value == "BCĐX"


# ---------------------------------------------------------------- issuer

def test_issuer_two_lines_province():
    h = hdr("ỦY BAN NHÂN DÂN\nTỈNH ĐIỆN BIÊN\nSố: 1/KH-UBND\n")
    assert (h["issuer.name"], h["issuer.level"], h["issuer.locality"]) == ("Ủy ban nhân dân tỉnh Điện Biên", "tỉnh", "Điện Biên")
    assert "issuer.parent" not in h


def test_issuer_with_parent_line():
    h = hdr("UBND TỈNH LÂM ĐỒNG CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nSỞ NỘI VỤ Độc lập - Tự do - Hạnh phúc\n"
            "Số: /BC-SNV Lâm Đồng, ngày tháng 11 năm 2025\n")
    # name as printed on its own line; level/locality from the governing line; parent as printed
    assert h["issuer.name"] == "Sở Nội vụ"
    assert h["issuer.parent"] == "UBND tỉnh Lâm Đồng"
    assert (h["issuer.level"], h["issuer.locality"]) == ("tỉnh", "Lâm Đồng")


def test_issuer_district_level():
    h = hdr("ỦY BAN NHÂN DÂN\nHUYỆN PHONG THỔ\nSố: /UBND-NV\n")
    assert (h["issuer.name"], h["issuer.level"]) == ("Ủy ban nhân dân huyện Phong Thổ", "huyện")


def test_issuer_central_level_without_locality():
    h = hdr("BỘ NỘI VỤ CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM\nSố: /BNV-CCHC Hà Nội, ngày tháng 12 năm 2025\n")
    assert (h["issuer.name"], h["issuer.level"]) == ("Bộ Nội vụ", "trung ương")
    assert "issuer.locality" not in h


def test_issuer_ocr_noise_repaired():
    h = hdr("- BỘ CÔNGAN _ CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM\nCÔNG AN TĨNH LAM ĐÓNG Độc lập - Tự do - Hạnh phúc\n"
            "Số: s¿C /TTr-CAT-PC04 Lâm Đông, ngày ƒŸ tháng 3 năm 2026\n")
    assert h["issuer.name"] == "Công an tỉnh Lâm Đồng"
    assert h["issuer.parent"] == "Bộ Công an"


def test_issuer_inferred_when_no_issuer_lines():
    h = extract_header(Document.from_text(
        "Số: 7/KH-UBND\nĐiện Biên, ngày 10 tháng 01 năm 2024\nKẾ HOẠCH\nCông tác\n"
        "Ủy ban nhân dân tỉnh ban hành Kế hoạch; UBND tỉnh yêu cầu.\n"))
    assert h["issuer.name"].value == "Ủy ban nhân dân tỉnh Điện Biên"
    assert h["issuer.name"].method.startswith("inferred") and h["issuer.name"].confidence <= 0.5


@pytest.mark.parametrize("upper, cased", [
    ("SỞ NỘI VỤ", "Sở Nội vụ"), ("BỘ CÔNG AN", "Bộ Công an"), ("VĂN PHÒNG CHÍNH PHỦ", "Văn phòng Chính phủ"),
    ("ỦY BAN NHÂN DÂN", "Ủy ban nhân dân"), ("TỎ CÔNG TÁC LIÊN NGÀNH TW", "Tổ công tác liên ngành TW"),
    ("SỞ TƯ PHÁP", "Sở Tư pháp"),
])
def test_case_body(upper, cased):
    assert case_body(upper) == cased


def test_split_locality():
    assert split_locality("ỦY BAN NHÂN DÂN TỈNH ĐIỆN BIÊN") == ("ỦY BAN NHÂN DÂN", ("tỉnh", "tỉnh", "Điện Biên"))
    assert split_locality("UBND THỊ XÃ SƠN TÂY")[1] == ("thị xã", "huyện", "Sơn Tây")


# ---------------------------------------------------------------- subject

def test_subject_vv_over_lines_stops_at_kinh_gui_and_joins_broken_symbol():
    h = hdr("V/v triển khai thực hiện nhiệm vụ\ntheo kết luận tại Văn bản số 59/TB-\n\nVPCP ngày 20/02/2024\n\n"
            "      Kính gửi:\n- Các sở;\n")
    assert h["subject"] == "triển khai thực hiện nhiệm vụ theo kết luận tại Văn bản số 59/TB-VPCP ngày 20/02/2024"
    assert h["doc_type"] == "CV"


def test_subject_vv_stops_at_date_line_and_motto():
    h = hdr("Số: /UBND-NV\nV/v triển khai Kết luận\n- Khen thưởng Trung ương\n\nPhong Thổ, ngày tháng 3 năm 2024\n")
    assert h["subject"] == "triển khai Kết luận - Khen thưởng Trung ương"
    h = hdr("Số: /UBND-X\nvề việc đẩy mạnh thi đua\nlần thứ VIII\n\nCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\n")
    assert h["subject"] == "đẩy mạnh thi đua lần thứ VIII"


def test_subject_from_title():
    h = hdr("Số: 1023/KH-UBND\nĐiện Biên, ngày 10 tháng 01 năm 2024\n\nKẾ HOẠCH\n"
            "Công tác thi đua, khen thưởng năm 2024\n\nCăn cứ Luật Thi đua;\n")
    assert h["subject"] == "Công tác thi đua, khen thưởng năm 2024"


def test_subject_ve_viec_after_title_is_stripped_and_stops_at_upper_line():
    h = hdr("Số: /QĐ-UBND\nQUYẾT ĐỊNH\nVề việc cho phép hợp nhất\nthành Đoàn Luật sư\n"
            "CHỦ TỊCH ỦY BAN NHÂN DÂN TỈNH LÂM ĐỒNG\nCăn cứ Luật;\n")
    assert h["subject"] == "cho phép hợp nhất thành Đoàn Luật sư"


def test_subject_in_brackets():
    h = hdr("Số: 3/BCĐX-CAT\nBÁO CÁO ĐỀ XUẤT\n\n(V/v Phê duyệt thời gian tổ chức Hội nghị)\n\nKính gửi: Ông A\n")
    assert h["subject"] == "Phê duyệt thời gian tổ chức Hội nghị"


# ---------------------------------------------------------------- urgency and secrecy

@pytest.mark.parametrize("mark, kind, value", [
    ("KHẨN", "urgency", "Khẩn"), ("THƯỢNG KHẨN", "urgency", "Thượng khẩn"), ("HỎA TỐC", "urgency", "Hỏa tốc"),
    ("MẬT", "secrecy", "Mật"), ("TỐI MẬT", "secrecy", "Tối mật"), ("TUYỆT MẬT", "secrecy", "Tuyệt mật"),
])
def test_marks(mark, kind, value):
    h = hdr(f"ỦY BAN NHÂN DÂN\nTỈNH ĐIỆN BIÊN\nSố: 1/UBND-VP\nV/v việc gấp\n{mark}\nKính gửi: Sở Nội vụ\n")
    assert h[kind] == value


def test_no_marks_in_ordinary_header():
    h = hdr("ỦY BAN NHÂN DÂN\nTỈNH ĐIỆN BIÊN\nSố: 1/UBND-VP\nV/v khẩn trương thực hiện\n")
    assert "urgency" not in h and "secrecy" not in h


# ---------------------------------------------------------------- entry point

def test_extract_fields_builds_record_kwargs_with_provenance():
    doc = Document.from_text("ỦY BAN NHÂN DÂN\nTỈNH ĐIỆN BIÊN\nSố: 1023/KH-UBND\n"
                             "Điện Biên, ngày 10 tháng 01 năm 2024\nKẾ HOẠCH\nCông tác năm 2024\n")
    f = extract_fields(doc)
    assert f["number"] == "1023/KH-UBND" and f["issued_date"] == "2024-01-10"
    for key in ("number", "symbol", "doc_type", "place", "issued_date", "subject", "issuer.name"):
        p = f["provenance"][key]
        assert isinstance(p, Provenance) and p.page == 1 and 0 <= p.start < p.end <= len(doc.text)
    p = f["provenance"]["number"]
    assert doc.text[p.start:p.end] == "1023/KH-UBND"
    assert f["recipients"] == [] and f["signer"].name is None


def test_unknown_is_null_never_empty_string():
    f = extract_fields(Document.from_text("Một văn bản không có phần đầu.\n"))
    for key in ("number", "symbol", "doc_type", "place", "issued_date", "subject", "urgency", "secrecy"):
        assert f[key] is None
    assert f["issuer"].name is None and f["provenance"] == {}


def test_place_and_locality_read_twice_by_ocr_are_reconciled():
    h = hdr("ỦY BAN NHÂN DÂN\nHUYỆN PHONG THỐ\nSố: /UBND-NV\nPhong Thổ, ngày tháng 3 năm 2024\n"
            "Kính gửi: Các xã\nUBND huyện Phong Thổ đề nghị; huyện Phong Thổ.\n")
    assert h["place"] == h["issuer.locality"] == "Phong Thổ"
    assert h["issuer.name"] == "Ủy ban nhân dân huyện Phong Thổ"


def test_ocr_blocks_in_either_order():
    right_first = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc\n\n"
                   "Điện Biên, ngày 10 tháng 01 năm 2024\n\nỦY BAN NHÂN DÂN\nTỈNH ĐIỆN BIÊN\n\nSố: 1023/KH-UBND\n\n"
                   "KẾ HOẠCH\nCông tác thi đua, khen thưởng năm 2024\n\nCăn cứ Luật;\n")
    left_first = ("ỦY BAN NHÂN DÂN\nTỈNH ĐIỆN BIÊN\n\nSố: 1023/KH-UBND\n\nCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\n"
                  "Độc lập - Tự do - Hạnh phúc\n\nĐiện Biên, ngày 10 tháng 01 năm 2024\n\n"
                  "KẾ HOẠCH\nCông tác thi đua, khen thưởng năm 2024\n\nCăn cứ Luật;\n")
    interleaved = ("ỦY BAN NHÂN DÂN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nTỈNH ĐIỆN BIÊN Độc lập - Tự do - Hạnh phúc\n"
                   "Số: 1023/KH-UBND Điện Biên, ngày 10 tháng 01 năm 2024\nKẾ HOẠCH\n"
                   "Công tác thi đua, khen thưởng năm 2024\nCăn cứ Luật;\n")
    for text in (right_first, left_first, interleaved):
        h = hdr(text)
        assert (h["number"], h["doc_type"], h["issued_date"], h["place"]) == ("1023/KH-UBND", "KH", "2024-01-10", "Điện Biên")
        assert h["issuer.name"] == "Ủy ban nhân dân tỉnh Điện Biên"
        assert h["subject"] == "Công tác thi đua, khen thưởng năm 2024"
