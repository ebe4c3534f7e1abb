"""References: one test per rule (extractors/references.py), on small strings and on the seeds."""
import pytest

from congvan.extractors.dates import document_year, make_view, parse_deadline
from congvan.extractors.references import find_references
from congvan.pipeline.document import Document
from conftest import seed_text


def refs(text):
    return find_references(Document.from_text(text))


def one(text):
    (r,) = refs(text)
    return r


def test_party_and_state_punctuation_share_a_key():
    a = one("theo Chỉ thị 34-CT/TW ngày 07/4/2014 của Bộ Chính trị.")
    b = one("Chỉ thị số 34/CT-TW ngày 07/4/2014.")
    assert a.key == b.key == "CT:34:TW"


def test_ocr_noise_in_type_word_still_reads_as_chi_thi():
    r = one("a) Tiếp tục thực hiện Chỉ ứiị số 34-CT/TW ngày 07/4/2014 của Bộ Chính trị.")
    assert (r.doc_type, r.key) == ("CT", "CT:34:TW")


def test_glued_type_code_is_split_and_year_kept_in_key():
    a = one("Nghị định số 98/2023/NĐCP và các quy định.")
    b = one("Nghị định số 98/2023/NĐ-CP ngày 31/12/2023 của Chính phủ.")
    assert a.key == b.key == "NĐ:98-2023:CP".replace("Đ", "D")
    assert a.number == "98/2023/NĐ-CP"


def test_date_and_issuer_after_number_belong_to_it():
    r = one("Thực hiện Công văn số 679/UBND-TH, ngày 29/02/2024 của UBND tỉnh Lai Châu về việc triển khai.")
    assert (r.doc_type, r.number, r.date, r.issuer) == ("CV", "679/UBND-TH", "2024-02-29", "UBND tỉnh Lai Châu")
    assert r.key == "CV:679:UBND-TH"


def test_symbol_type_code_beats_type_word():
    assert one("Thực hiện Văn bản số 59/TB-VPCP ngày 20/02/2024.").doc_type == "TB"


def test_number_wrapped_after_hyphen():
    r = one("Quyết định số 4647/QĐ-\n\nUBND ngày 14/12/2023 của UBND tỉnh, triển khai")
    assert r.number == "4647/QĐ-UBND" and r.date == "2023-12-14"


def test_citation_kinds():
    text = ("Căn cứ Luật Thi đua, Khen thưởng số 06/2022/QH15 ngày 15/6/2022 của Quốc hội; Nghị định số "
            "98/2023/NĐ-CP ngày 31/12/2023 của Chính phủ;\nThực hiện Chỉ thị số 39/CT-TTg ngày 15/10/2024 "
            "của Thủ tướng Chính phủ;\nXét đề nghị của Sở Nội vụ tại Tờ trình 3363/TTr-SNV ngày 28/8/2024;\n"
            "1. Bám sát các chỉ tiêu theo Nghị quyết số 75/NQ-HĐND ngày 06/12/2023 của HĐND tỉnh về nhiệm vụ "
            "năm 2024, Quyết định số 4647/QĐ-UBND ngày 14/12/2023 của UBND tỉnh, triển khai đồng bộ.")
    kinds = {r.number: r.citation for r in refs(text)}
    assert kinds == {"06/2022/QH15": "can_cu", "98/2023/NĐ-CP": "can_cu", "39/CT-TTg": "thuc_hien",
                     "3363/TTr-SNV": "other", "75/NQ-HĐND": "theo", "4647/QĐ-UBND": "theo"}


def test_law_by_name_and_by_number_share_a_key():
    text = ("Căn cứ Luật Thi đua, Khen thưởng số 06/2022/QH15 ngày 15/6/2022 của Quốc hội;\n"
            "Tổ chức triển khai Luật Thi đua, khen thưởng năm 2022, các văn bản.")
    (r,) = refs(text)
    assert r.key == "LUAT:THI-DUA-KHEN-THUONG:2022" and r.number == "06/2022/QH15"


def test_law_by_name_with_full_date():
    r = one("Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;")
    assert r.key == "LUAT:TO-CHUC-CHINH-QUYEN-DIA-PHUONG:2015" and r.date == "2015-06-19"


def test_own_number_line_is_not_a_reference():
    assert refs("Số: 1023/KH-UBND\nĐiện Biên, ngày 10 tháng 01 năm 2024") == []


def test_dedupe_keeps_first_span_and_merges_details():
    text = "V/v theo Văn bản số 59/TB-VPCP\n\nThực hiện Văn bản số 59/TB-VPCP ngày 20/02/2024 của Văn phòng Chính phủ về việc"
    (r,) = refs(text)
    assert r.prov.start == text.index("Văn bản") and r.date == "2024-02-20"
    assert r.issuer == "Văn phòng Chính phủ" and r.citation == "thuc_hien"


def test_legacy_font_view_keeps_offsets():
    text = "Thực hiện Văn bản số 59/TB-VPCP của Văn phòng Chính phủ về kết luận của Thủ t°ớng"
    v = make_view(text)
    assert len(v.text) == len(text) and "Thủ tướng" in v.text


def test_provenance_points_at_the_original_text():
    text = "Tiếp tục thực hiện Chỉ ứiị số 34-CT/TW ngày 07/4/2014 của Bộ Chính trị."
    r = one(text)
    assert text[r.prov.start:r.prov.end].startswith("Chỉ ứiị số 34-CT/TW")


@pytest.mark.parametrize("phrase,expected", [
    ("Thời gian gửi Kế hoạch chậm nhất ngày 15/3/2024.", "2024-03-15"),
    ("hoàn thành trước ngày 30 tháng 6 năm 2024", "2024-06-30"),
    ("Nhiệm vụ thực hiện trong Quý I", "2024-Q1"),
    ("trong quý IV năm 2025", "2025-Q4"),
    ("Thường xuyên kiểm tra, đôn đốc", "recurring"),
    ("phát động phong trào thi đua thường xuyên", None),
    ("Triển khai thực hiện", None),
])
def test_deadlines(phrase, expected):
    assert parse_deadline(phrase, 2024) == expected


def test_document_year_from_place_date_line():
    assert document_year("Điện Biên, ngày 10 tháng 01 năm 2024\nKẾ HOẠCH … năm 2023") == 2024


def test_seed_001_references(seeds_dir):
    keys = [r.key for r in refs(seed_text("001"))]
    assert keys == ["LUAT:THI-DUA-KHEN-THUONG:2022", "ND:98-2023:CP", "CT:34:TW", "KH:1663:UBND", "KH:1442:UBND"]


def test_seed_003_and_004_cite_chi_thi_34_under_one_key(seeds_dir):
    assert "CT:34:TW" in {r.key for r in refs(seed_text("003"))}
    assert "CT:34:TW" in {r.key for r in refs(seed_text("004"))}


def test_seed_000_garbled(seeds_dir):
    rs = {r.key: r for r in refs(seed_text("000"))}
    assert rs["TB:59:VPCP"].citation == "thuc_hien" and rs["TB:59:VPCP"].issuer == "Văn phòng Chính phủ"
    assert "LUAT:THI-DUA-KHEN-THUONG:2022" in rs


def test_luat_su_is_a_profession_not_a_law_and_mot_so_is_not_a_number():
    text = ("thành Đoàn Luật sư tỉnh Lâm Đồng\nCHỦ TỊCH ỦY BAN NHÂN DÂN TỈNH\nCăn cứ Luật Tổ chức chính quyền địa phương ngày 16 tháng 6 năm 2025;\n"
            "Căn cứ Luật Luật sư ngày 29 tháng 6 năm 2006, Luật sửa đổi, bổ sung một\nsố điều của Luật Luật sư ngày 20 tháng 11 năm 2012;")
    assert [r.key for r in refs(text)] == ["LUAT:TO-CHUC-CHINH-QUYEN-DIA-PHUONG:2025", "LUAT:LUAT-SU:2006",
                                         "LUAT:SUA-DOI-BO-SUNG-MOT-SO-DIEU-CUA-LUAT-LUAT-SU:2012"]


def test_issuer_named_before_the_citation():
    r = one("Xét đề nghị của Sở Nội vụ tại Tờ trình 3363/TTr-SNV ngày 28/8/2024;")
    assert r.issuer == "Sở Nội vụ" and r.citation == "other"
    rs = refs("Tiếp tục thực hiện các Kế hoạch của UBND tỉnh: Kế hoạch số 1663/KH-UBND ngày 06/4/2021 về A; "
              "Kế hoạch số 1442/KH-UBND ngày 25/4/2023 về B.")
    assert [r.issuer for r in rs] == ["UBND tỉnh", "UBND tỉnh"]


def test_don_de_nghi_type_word():
    r = one("Theo đề nghị của Đoàn Luật sư tại Đơn đề nghị số 258/ĐĐN-ĐLS ngày 27 tháng 11 năm 2025")
    assert (r.doc_type, r.key, r.citation) == ("Đơn", "DON:258:DDN-DLS", "theo")


def test_law_year_only_date():
    assert one("Triển khai Luật Thi đua, khen thưởng năm 2022 và").date == "2022"


def test_law_by_name_alone_joins_the_dated_law():
    text = ("4. Triển khai Luật Thi đua, khen thưởng và các quy định liên quan. Ban hành văn bản thi hành Luật Thi "
            "đua, khen thưởng năm 2022 nhằm nâng cao.\n5. Thực hiện tốt Luật thực hiện dân chủ ở cơ sở.")
    rs = refs(text)
    assert [r.key for r in rs] == ["LUAT:THI-DUA-KHEN-THUONG:2022", "LUAT:THUC-HIEN-DAN-CHU-O-CO-SO"]
    assert rs[0].prov.start == text.index("Luật Thi đua") and rs[0].date == "2022"
