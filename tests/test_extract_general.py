"""Rules that make extraction hold on dispatches outside the samples: urgency/secrecy marks, Party
numbering and bodies, year-numbers, OCR digit confusions, wrapped issuer names, giấy mời subjects,
signature-column debris, task subjects inside proper names, closing formulae, the public
reference key. One test per rule, on small texts in the shapes the extractors meet."""
import pytest

from congvan.extractors import extract_fields
from congvan.extractors.header import case_body, extract_header, mark_of, repair_symbol
from congvan.extractors.parties import find_distribution
from congvan.extractors.references import canonical_key, reference_key
from congvan.extractors.tasks import find_tasks, is_closing_formula, subject_of
from congvan.pipeline.document import Document


def hdr(text: str) -> dict:
    return {k: h for k, h in extract_header(Document.from_text(text)).items()}


def fields(text: str) -> dict:
    return extract_fields(Document.from_text(text))


HEAD = "ỦY BAN NHÂN DÂN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nTỈNH ĐIỆN BIÊN Độc lập - Tự do - Hạnh phúc\n"


# ---------------------------------------------------------------- urgency / secrecy marks

@pytest.mark.parametrize("seg, expected", [
    ("KHẨN", ("urgency", "Khẩn", True)),
    ("HỎA TỐC", ("urgency", "Hỏa tốc", True)),
    ("THƯỢNG KHẨN", ("urgency", "Thượng khẩn", True)),
    ("| KHÂN |", ("urgency", "Khẩn", False)),  # boxed stamp, OCR'd circumflex
    ("TỐI MẬT", ("secrecy", "Tối mật", True)),
    ("MẬT", ("secrecy", "Mật", True)),
    ("bảo mật thông tin", None),  # a word inside a sentence is not a mark
    ("KẾ HOẠCH", None),
])
def test_mark_of(seg, expected):
    assert mark_of(seg) == expected


def test_mark_line_is_not_the_issuer():
    text = ("BỘ TÀI CHÍNH CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc\nKHẨN\n"
            "Số: 1234/BTC-NSNN Hà Nội, ngày 05 tháng 3 năm 2024\nV/v hướng dẫn dự toán\n")
    h = hdr(text)
    assert h["urgency"].value == "Khẩn" and h["urgency"].method == "marks_table"
    assert h["issuer.name"].value == "Bộ Tài chính"
    assert h["issuer.level"].value == "trung ương"


def test_secrecy_mark_beside_the_number():
    h = hdr(HEAD + "Số: 12/KH-UBND MẬT Điện Biên, ngày 10 tháng 01 năm 2024\nKẾ HOẠCH\nVề việc thử\n")
    assert h["secrecy"].value == "Mật"


# ---------------------------------------------------------------- numbers and symbols

def test_party_numbering_and_body():
    text = ("TỈNH ỦY BẮC NINH ĐẢNG CỘNG SẢN VIỆT NAM\n*\nSố 28-CT/TU Bắc Ninh, ngày 12 tháng 9 năm 2023\n"
            "CHỈ THỊ\ncủa Ban Thường vụ Tỉnh ủy về phòng, chống tham nhũng\n")
    h = hdr(text)
    assert (h["number"].value, h["symbol"].value, h["doc_type"].value) == ("28-CT/TU", "CT/TU", "CT")
    assert (h["issuer.name"].value, h["issuer.level"].value, h["issuer.locality"].value) == \
        ("Tỉnh ủy Bắc Ninh", "tỉnh", "Bắc Ninh")


def test_year_is_part_of_the_number():
    h = hdr("BỘ GIÁO DỤC VÀ ĐÀO TẠO\nSố: 15/2024/TT-BGDĐT Hà Nội, ngày 01 tháng 02 năm 2024\nTHÔNG TƯ\nBan hành Quy chế thi\n")
    assert (h["number"].value, h["symbol"].value, h["doc_type"].value) == ("15/2024/TT-BGDĐT", "TT-BGDĐT", "TT")


def test_slash_lost_by_ocr_keeps_the_symbol():
    h = hdr(HEAD + "Số: UBND-NV Phong Thổ, ngày tháng 3 năm 2024\nV/v thử nghiệm\n")
    assert "number" not in h
    assert h["symbol"].value == "UBND-NV" and h["symbol"].method == "regex:number_no_slash"


@pytest.mark.parametrize("raw, fixed", [
    ("UBND-NCI", "UBND-NC1"),  # OCR "I" for "1" closing a unit code
    ("UBND-VPl", "UBND-VP1"),
    ("UBND-NC1", "UBND-NC1"),
    ("KH-UBND", "KH-UBND"),  # codes of their own stay
    ("UBND-III", "UBND-III"),  # Roman numerals stay
    ("BNV-CCHC", "BNV-CCHC"),
])
def test_repair_symbol(raw, fixed):
    assert repair_symbol(raw) == fixed


def test_repaired_symbol_carries_its_method():
    h = hdr(HEAD + "Số: 1150/UBND-NCI Điện Biên, ngày 05 tháng 3 năm 2024\nV/v thử\n")
    assert h["number"].value == "1150/UBND-NC1" and h["symbol"].value == "UBND-NC1"
    assert h["symbol"].method.endswith("ocr_digits") and h["symbol"].confidence < 0.9


# ---------------------------------------------------------------- dates

@pytest.mark.parametrize("line, iso, method", [
    ("Thái Bình, ngày 'thúng ¡2 năm 2024", "2024-12", "regex:place_date+ocr_digits"),  # OCR'd "tháng" and "12"
    ("Hà Nội, ngày l5 tháng O3 năm 2024", "2024-03-15", "regex:place_date+ocr_digits"),
    ("Hà Nội, ngày 9K tháng 3 năm 2024", "2024-03", "regex:place_date"),  # unreadable day: unknown, no guess
    ("Hà Nội, ngày   tháng 8 năm 2024", "2024-08", "regex:place_date"),  # blank day
])
def test_place_date_ocr_digits(line, iso, method):
    h = hdr(HEAD + "Số: 5/UBND-VP " + line + "\nV/v thử\n")
    assert h["issued_date"].value == iso
    assert h["issued_date"].method == method


# ---------------------------------------------------------------- issuer names

@pytest.mark.parametrize("upper, cased", [
    ("SỞ GIÁO DỤC VÀ ĐÀO TẠO", "Sở Giáo dục và Đào tạo"),
    ("BỘ LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI", "Bộ Lao động - Thương binh và Xã hội"),
    ("BỘ VĂN HÓA, THỂ THAO VÀ DU LỊCH", "Bộ Văn hóa, Thể thao và Du lịch"),
    ("SỞ NỘI VỤ", "Sở Nội vụ"),
])
def test_case_body_capitalises_each_field(upper, cased):
    assert case_body(upper) == cased


def test_issuer_name_wrapped_over_two_lines():
    text = ("UBND THÀNH PHỐ HỒ CHÍ MINH\nSỞ LAO ĐỘNG - THƯƠNG BINH\nVÀ XÃ HỘI\nCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\n"
            "Độc lập - Tự do - Hạnh phúc\nSố: 1234/GM-SLĐTBXH\nTP. Hồ Chí Minh, ngày 03 tháng 4 năm 2024\n"
            "GIẤY MỜI\nHọp triển khai công tác giảm nghèo năm 2024\n"
            "Sở Lao động - Thương binh và Xã hội trân trọng kính mời:\n- Đại diện lãnh đạo các quận;\n")
    h = hdr(text)
    assert h["issuer.name"].value == "Sở Lao động - Thương binh và Xã hội"
    assert (h["issuer.level"].value, h["issuer.locality"].value) == ("tỉnh", "Hồ Chí Minh")
    assert h["subject"].value == "Họp triển khai công tác giảm nghèo năm 2024"  # stops before the list intro


# ---------------------------------------------------------------- signature block and distribution

def test_party_signing_prefix_and_title_in_distribution_line():
    text = ("Nơi nhận: T/M BAN THƯỜNG VỤ\n- Ban Bí thư, PHÓ BÍ THƯ THƯỜNG TRỰC\n- Các huyện ủy, thành ủy,\n"
            "- Lưu Văn phòng Tỉnh ủy.\nNguyễn Quốc Chung\n")
    f = fields(text)
    assert f["distribution"] == ["Ban Bí thư", "Các huyện ủy, thành ủy", "Lưu Văn phòng Tỉnh ủy"]
    s = f["signer"]
    assert (s.authority, s.on_behalf_of, s.title, s.name) == ("TM.", "Ban Thường vụ", "Phó Bí thư thường trực",
                                                             "Nguyễn Quốc Chung")


def test_da_ky_is_not_a_distribution_item():
    text = ("Nơi nhận: KT. BỘ TRƯỞNG\n- Văn phòng Chính phủ; THỨ TRƯỞNG\n- Như Điều 3;\n"
            "- Lưu: VT, Vụ PC. (Đã ký)\nNguyễn Văn Phúc\n")
    items, _ = find_distribution(Document.from_text(text))
    assert [h.value for h in items] == ["Văn phòng Chính phủ", "Như Điều 3", "Lưu: VT, Vụ PC"]


# ---------------------------------------------------------------- tasks

def test_capitalised_action_word_is_part_of_the_name():
    assert subject_of("Ủy ban Kiểm tra Tỉnh ủy chủ trì, phối hợp với Ban Nội chính")[0] == "Ủy ban Kiểm tra Tỉnh ủy"
    assert subject_of("Ban Tổ chức Tỉnh ủy hướng dẫn các đảng bộ")[0] == "Ban Tổ chức Tỉnh ủy"


def test_co_nhiem_vu_is_not_part_of_the_subject():
    assert subject_of("Tổ công tác có nhiệm vụ kiểm tra các khu vực xung yếu")[0] == "Tổ công tác"


def test_one_syllable_head_needs_its_diacritics():
    assert subject_of("Bố trí đủ nhân lực cho công tác cải cách hành chính. Tiếp tục chú trọng đào tạo") is None


@pytest.mark.parametrize("text, closing", [
    ("Văn phòng HĐND và UBND xã, các thành viên Tổ công tác chịu trách nhiệm thi hành Quyết định này./.", True),
    ("Chánh Văn phòng, Thủ trưởng các đơn vị chịu trách nhiệm thi hành Thông tư này.", True),
    ("Sở Nội vụ chủ trì, phối hợp với các đơn vị tổ chức thực hiện.", False),
])
def test_closing_formula(text, closing):
    assert is_closing_formula(text) is closing


def test_quyet_dinh_execution_article_is_not_a_task():
    text = ("QUYẾT ĐỊNH:\nĐiều 1. Thành lập Tổ công tác phòng, chống thiên tai xã Tân Phú.\n"
            "Điều 2. Tổ công tác có nhiệm vụ kiểm tra các khu vực xung yếu, báo cáo Chủ tịch UBND xã thường xuyên.\n"
            "Điều 3. Văn phòng HĐND và UBND xã, các thành viên Tổ công tác chịu trách nhiệm thi hành Quyết định này./.\n")
    tasks = find_tasks(Document.from_text(text))
    assert [(t.assignee, t.item, t.deadline) for t in tasks] == [("Tổ công tác", "Điều 2", "recurring")]


def test_intro_addressing_the_list_at_the_end_of_a_sentence():
    text = ("Thực hiện Kế hoạch số 345/KH-UBND ngày 10/5/2024 của UBND tỉnh, Sở Giáo dục và Đào tạo đề nghị các đơn vị:\n"
            "a) Xây dựng kế hoạch hưởng ứng, gửi về Sở chậm nhất ngày 30/8/2024.\n"
            "b) Báo cáo kết quả thực hiện định kỳ hằng quý.\n")
    tasks = find_tasks(Document.from_text(text))
    assert [(t.assignee, t.item, t.deadline) for t in tasks] == [
        ("các đơn vị", "a)", "2024-08-30"), ("các đơn vị", "b)", "recurring")]


def test_ocr_blank_line_inside_a_sentence_and_debris_before_an_item():
    text = ("Ủy ban nhân dân tỉnh yêu cầu:\n"
            ": 2. Sở Thông tin và Truyền thông chủ trì, phối hợp với Báo Thái Bình tăng cường\n\n"
            "thông tin, tuyên truyền.\n\n"
            "3. Đề nghị Ủy ban Mặt trận Tổ quốc Việt Nam tỉnh và các tổ chức chính\n\n"
            "trị - xã hội thực hiện tốt công tác tuyên truyền.\n")
    tasks = find_tasks(Document.from_text(text))
    assert [(t.assignee, t.item) for t in tasks] == [
        ("Sở Thông tin và Truyền thông", "2"),
        ("Ủy ban Mặt trận Tổ quốc Việt Nam tỉnh và các tổ chức chính trị - xã hội", "3")]
    assert tasks[0].coordinators == ["Báo Thái Bình"]
    assert all(t.prov and t.prov.start is not None and t.prov.page == 1 for t in tasks)


# ---------------------------------------------------------------- the public reference key

@pytest.mark.parametrize("kwargs, key", [
    ({"number": "34-CT/TW"}, "CT:34:TW"),
    ({"number": "34/CT-TW"}, "CT:34:TW"),
    ({"number": "98/2023/NĐ-CP"}, "ND:98-2023:CP"),
    ({"number": "679/UBND-TH", "doc_type": "CV"}, "CV:679:UBND-TH"),
    ({"number": "1023/KH-UBND", "doc_type": "KH"}, "KH:1023:UBND"),
    ({"name": "Thi đua, Khen thưởng", "year": 2022}, "LUAT:THI-DUA-KHEN-THUONG:2022"),
    ({"citation": "Chỉ ứiị số 34-CT/TW ngày 07/4/2014"}, "CT:34:TW"),
    ({"citation": "Luật Thi đua, khen thưởng năm 2022"}, "LUAT:THI-DUA-KHEN-THUONG:2022"),
    ({}, None),
])
def test_canonical_key(kwargs, key):
    assert canonical_key(**kwargs) == key
    assert reference_key(**kwargs) == key


# ---------------------------------------------------------------- OCR damage inside cited numbers

@pytest.mark.parametrize("text, key, number", [
    ("Thực hiện Quyết định số 06/QĐ- -TTg ngày 06/01/2022 của Thủ tướng Chính phủ;", "QD:6:TTG", "06/QĐ-TTg"),
    ("Quyết định số 7404/QĐÐ-BCA-C04 ngày 27/8/2025 của Bộ trưởng Bộ Công an;", "QD:7404:BCA-C04", "7404/QĐ-BCA-C04"),
    ("Chỉ thị số 52-CT/T U ngày 28/5/2014 của Ban Thường vụ Tỉnh ủy;", "CT:52:TU", "52-CT/TU"),
])
def test_reference_number_ocr_repairs(text, key, number):
    from congvan.extractors.references import find_references
    refs = find_references(Document.from_text(text))
    assert [(r.key, r.number) for r in refs] == [(key, number)]
    assert refs[0].prov.start is not None and refs[0].prov.end > refs[0].prov.start


def test_reference_issuer_stops_at_a_wrapped_verb():
    from congvan.extractors.references import find_references
    text = ("Chỉ thị số 02/CT-UBND ngày 24/01/2024 của Chủ tịch Ủy ban nhân dân tỉnh phát\nđộng thi đua; "
            "Quyết định số 06/QĐ-TTg ngày 06/01/2022 của Thủ tướng Chính phủ phê duyệt Đề án 06.")
    refs = find_references(Document.from_text(text))
    assert [r.issuer for r in refs] == ["Chủ tịch Ủy ban nhân dân tỉnh", "Thủ tướng Chính phủ"]


def test_inline_request_with_its_own_subject():
    text = ("Thực hiện Công văn số 123/UBND-NV ngày 20/02/2024 của UBND huyện, Phòng Nội vụ đề nghị UBND các xã, "
            "thị trấn báo cáo kết quả cải cách hành chính quý I năm 2024, gửi về Phòng Nội vụ trước ngày 10/3/2024.\n"
            "Phòng Nội vụ đề nghị UBND các xã, thị trấn quan tâm thực hiện./.\n")
    tasks = find_tasks(Document.from_text(text))
    assert [(t.assignee, t.deadline, t.prov.method) for t in tasks] == [
        ("UBND các xã, thị trấn", "2024-03-10", "rule:inline")]  # the one-line closing request is not a task


@pytest.mark.parametrize("text", [
    "Sở Giáo dục và Đào tạo đề nghị các đơn vị thực hiện một số nội dung sau:\n",  # an intro, its list follows
    "Xét đề nghị của Sở Nội vụ tại Tờ trình số 12/TTr-SNV ngày 02/3/2024 về việc khen thưởng các tập thể.\n",
    "Sở Nội vụ thẩm định hồ sơ khen thưởng và đề nghị các cấp khen thưởng thường xuyên, chuyên đề, đột xuất.\n",
])
def test_requests_that_are_not_tasks(text):
    assert [t.prov.method for t in find_tasks(Document.from_text(text)) if t.prov.method == "rule:inline"] == []


def test_heading_naming_a_body_addresses_its_lettered_items():
    text = ("II. NỘI DUNG\n2. Công an các huyện, thành phố:\n"
            "a) Tổ chức tuần tra, kiểm soát trên các tuyến, địa bàn trọng điểm.\n"
            "b) Báo cáo kết quả về Công an tỉnh (qua Phòng Tham mưu) định kỳ hằng tuần.\n"
            "III. TỔ CHỨC THỰC HIỆN\nPhòng Tham mưu theo dõi, đôn đốc, tổng hợp kết quả, báo cáo Giám đốc Công an tỉnh./.\n")
    tasks = find_tasks(Document.from_text(text))
    assert [(t.assignee, t.item, t.deadline) for t in tasks] == [
        ("Công an các huyện, thành phố", "II.2.a)", None),
        ("Công an các huyện, thành phố", "II.2.b)", "recurring"),
        ("Phòng Tham mưu", "III", None)]  # the paragraph under an upper-case heading has its own subject


def test_lost_noi_nhan_heading_signature_line_ends_the_body():
    text = ("IV. TỔ CHỨC THỰC HIỆN\n5. Các sở, ban, ngành\nXây dựng kế hoạch thực hiện công tác thi đua năm 2024.\n\n"
            "Trên đây là Kế hoạch công tác thi đua năm 2024, đề nghị các cơ quan, đơn vị nghiêm túc triển khai, thực hiện./.\n\n"
            "x TM. ỦY BAN NHÂN DÂN\n- Ban TĐKT Trung ương; CHỦ TỊCH\n- Lãnh đạo UBND tỉnh;\n- Lưu: VT, KSTT.\n")
    tasks = find_tasks(Document.from_text(text))
    assert [(t.assignee, t.item) for t in tasks] == [("Các sở, ban, ngành", "IV.5")]


# ---------------------------------------------------------------- deadlines (data/deadline_anchors.tsv)

@pytest.mark.parametrize("text, deadline", [
    ("báo cáo trước ngày 15 tháng 3 năm 2024", "2024-03-15"),
    ("gửi trước 16 giờ ngày 20/3/2024", "2024-03-20"),
    ("hạn cuối ngày 05/4/2024", "2024-04-05"),
    ("thời hạn: 30/9/2024", "2024-09-30"),
    ("không quá ngày 12/10/2024", "2024-10-12"),
    ("trước ngày 10 tháng 4", "2024-04-10"),  # no year: the document's
    ("chậm nhất ngày 15/3", "2024-03-15"),
    ("Thời gian hoàn thành: tháng 6/2024", "2024-06"),
    ("hoàn thành trong năm 2025", "2025"),
    ("hoàn thành trong Quý II/2024", "2024-Q2"),
    ("báo cáo định kỳ hằng tháng", "recurring"),
    ("các nhiệm vụ trong năm 2025", None),  # a year in passing is not a deadline
    ("ngày 15/3/2024 Sở Nội vụ đã họp", None),  # a date without an anchor is not a deadline
])
def test_deadline_anchors(text, deadline):
    from congvan.extractors.dates import parse_deadline
    assert parse_deadline(text, 2024) == deadline


# ---------------------------------------------------------------- movements

def test_movement_period_after_the_quote_and_launcher_scope():
    from congvan.extractors.movements import find_movements
    text = ("phong trào thi đua “Cả nước chung tay vì người nghèo - Không để ai bị bỏ lại phía sau” giai đoạn "
            "2021 - 2025 do Thủ tướng Chính phủ phát động; phong trào thi đua “Chuyển đổi số trong ngành Nội vụ” "
            "đến năm 2025.")
    got = [(m.canonical, m.period, m.launched_by) for m in find_movements(Document.from_text(text))]
    assert got == [("Vì người nghèo - Không để ai bị bỏ lại phía sau", "2021-2025", "Thủ tướng Chính phủ"),
                   ("Chuyển đổi số", "-2025", None)]  # after ";" the launcher no longer applies


def test_signer_name_glued_to_a_distribution_line_and_eth():
    text = ("x TM. ỦY BAN NHÂN DÂN\n- Hội đồng TĐKT Trung ương; CHỦ TỊCH\n- Các thành viên Hội đồng TĐÐKT tỉnh;\n"
            "- Các CQ, ÐV, DN tham gia Cụm - khối thi đua Lê Thành Đô\ncủa tỉnh;\n- Lưu: VT, KSTT.\n")
    f = fields("Nơi nhận:\n" + text)
    assert f["signer"].name == "Lê Thành Đô"
    assert f["provenance"]["signer.name"].method == "name_shape+surnames:line_end"
    assert "Các CQ, ĐV, DN tham gia Cụm - khối thi đua của tỉnh" in f["distribution"]  # name cut out, Ð → Đ
    assert "Các thành viên Hội đồng TĐĐKT tỉnh" in f["distribution"]


def test_person_recipient_is_not_taken_for_the_signer():
    text = "Nơi nhận: KT. CHỦ TỊCH\n- Đồng chí Nguyễn Văn An;\n- Lưu: VT. PHÓ CHỦ TỊCH\nTrần Bình Minh\n"
    f = fields(text)
    assert f["signer"].name == "Trần Bình Minh"


def test_ocr_type_code_in_symbol_repaired_from_the_title():
    h = hdr("BỘ CÔNG AN CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM\n: CÔNG AN TỈNH LÂM ĐỒNG Độc lập - Tự do - Hạnh phúc\n"
            "Số: 289 /Tin-CAT-PC06 Lâm Đồng, ngày 22 tháng 10 năm 2025\nTỜ TRÌNH\nĐề nghị ban hành Báo cáo\n")
    assert (h["symbol"].value, h["number"].value, h["doc_type"].value) == ("TTr-CAT-PC06", "289/TTr-CAT-PC06", "TTr")
    assert h["symbol"].method == "symbol+title_code"
    assert h["issuer.parent"].value == "Bộ Công an"  # ": " debris before the line is not part of it
    h = hdr(HEAD + "Số: 12/KH-UBND Điện Biên, ngày 10 tháng 01 năm 2024\nKẾ HOẠCH\nCông tác thi đua\n")
    assert h["symbol"].value == "KH-UBND" and h["symbol"].method == "regex:number"


def test_distribution_without_noi_nhan_heading_and_debris_before_luu():
    text = ("hoặc tổng hợp, báo cáo Ủy ban nhân dân tỉnh xem xét, giải quyết./.\n\nmi. KT. CHỦ TỊCH\n"
            "- Thường trực Tỉnh ủy; PHÓ CHỦ TỊCH\n\n- Lãnh đạo VP UBND tỉnh;\n\nkí Lưu: VT, NCKS. * - \nLại Văn Hoàn")
    f = fields(text)
    assert f["distribution"] == ["Thường trực Tỉnh ủy", "Lãnh đạo VP UBND tỉnh", "Lưu: VT, NCKS"]
    assert (f["signer"].authority, f["signer"].title, f["signer"].name) == ("KT.", "Phó Chủ tịch", "Lại Văn Hoàn")


@pytest.mark.parametrize("vv", ["V/v", "V#v", "Výv", "V/V", "Về việc"])
def test_ocr_variants_of_vv(vv):
    h = hdr(HEAD + f"Số: /UBND-VXNV Điện Biên, ngày tháng 8 năm 2024\n{vv} triển khai thực hiện Kết luận\n")
    assert h["subject"].value == "triển khai thực hiện Kết luận"
    assert h["doc_type"].value == "CV"


@pytest.mark.parametrize("text, keys", [
    ("Chỉ thị số 34-\nCT/TW ngày 07/4/2014", ["CT:34:TW"]),  # wrapped after the separator
    ("Quyết định số 2764/QĐ-\nTTg ngày 19/12/2025", ["QD:2764:TTG"]),
    ("- Như trên; 5\n- TT. Huyện ủy;", []),  # stamp debris digit above a bullet is no citation
])
def test_number_separator_line_breaks(text, keys):
    from congvan.extractors.references import find_references
    assert [r.key for r in find_references(Document.from_text(text))] == keys


def test_numeric_place_date_inline_recipients_and_title_with_its_body():
    text = ("UBND TỈNH BÌNH DƯƠNG CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nSỞ NỘI VỤ Độc lập - Tự do - Hạnh phúc\n"
            "Số: 77/SNV-CCVC Bình Dương, ngày 05/3/2024\nV/v cử công chức tham dự lớp bồi dưỡng\n"
            "Kính gửi: Sở Tài chính; Sở Tư pháp; Văn phòng UBND tỉnh.\n"
            "Sở Nội vụ đề nghị các cơ quan cử công chức tham dự lớp bồi dưỡng, gửi danh sách trước ngày 15/3/2024.\n"
            "Nơi nhận: TUQ. CHỦ TỊCH UBND TỈNH\n- Như trên; GIÁM ĐỐC SỞ NỘI VỤ\n- Lưu: VT, CCVC.\n(Đã ký)\nNgô Thị Hồng Vân\n")
    f = fields(text)
    assert (f["place"], f["issued_date"]) == ("Bình Dương", "2024-03-05")
    assert f["provenance"]["issued_date"].method == "regex:place_date_numeric"
    assert f["recipients"] == ["Sở Tài chính", "Sở Tư pháp", "Văn phòng UBND tỉnh"]
    s = f["signer"]
    assert (s.authority, s.on_behalf_of, s.title, s.name) == ("TUQ.", "Chủ tịch UBND tỉnh", "Giám đốc Sở Nội vụ",
                                                             "Ngô Thị Hồng Vân")
    assert f["distribution"] == ["Như trên", "Lưu: VT, CCVC"]
