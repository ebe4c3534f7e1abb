"""Kính gửi / Nơi nhận lists and the signature block, one test per rule."""
import pytest

from congvan.extractors.parties import find_distribution, find_recipients
from congvan.extractors.signer import case_title, find_signer, name_shape
from congvan.pipeline.document import Document


def recipients(text):
    return [h.value for h in find_recipients(Document.from_text(text))]


def distribution(text):
    return [h.value for h in find_distribution(Document.from_text(text))[0]]


def signer(text):
    doc = Document.from_text(text)
    return {k.split(".")[1]: h.value for k, h in find_signer(doc, find_distribution(doc)[1]).items()}


# ---------------------------------------------------------------- recipients

def test_recipient_inline_single_and_body_not_swallowed():
    assert recipients("Kính gửi: Sở Nội vụ\n\nỦy ban nhân dân tỉnh nhận được Công văn số 227/MTTQ-BTT ngày\n") == ["Sở Nội vụ"]
    assert recipients("Kính gửi: Chủ tịch UBND tỉnh Lâm Đồng\nNgày 30/8/2025, Sở Nội vụ nhận được\n") == [
        "Chủ tịch UBND tỉnh Lâm Đồng"]


def test_recipient_bullet_list_strips_bullets_and_punctuation():
    text = "\tKính gửi:\n\t- Các cơ quan Đảng;\n- Các Sở, ban, ngành\n- Ủy ban nhân dân các huyện.\n\n\nThực hiện ý kiến\n"
    assert recipients(text) == ["Các cơ quan Đảng", "Các Sở, ban, ngành", "Ủy ban nhân dân các huyện"]


def test_recipient_item_continues_over_lines():
    text = ("Kính gửi: |\n- Đồng chí A - Chủ tịch Ủy ban nhân dân tỉnh:\n- Đồng chí B - Phó Chủ tịch,\n"
            "Chủ tịch Hội đồng cấp tỉnh xét duyệt địa bàn không ma\ntúy.\n\nThực hiện Kế hoạch số 2126/KH-UBND\n")
    assert recipients(text) == ["Đồng chí A - Chủ tịch Ủy ban nhân dân tỉnh",
                                "Đồng chí B - Phó Chủ tịch, Chủ tịch Hội đồng cấp tỉnh xét duyệt địa bàn không ma túy"]


def test_recipient_cong_dien_form():
    text = "CÔNG ĐIỆN\nVĂN PHÒNG CHÍNH PHỦ điện:\n- Các đồng chí thành viên (Quyết định số 2764/QĐ-\nTTg);\n- Chủ tịch UBND các tỉnh.\nThực hiện\n"
    assert recipients(text) == ["Các đồng chí thành viên (Quyết định số 2764/QĐ-TTg)", "Chủ tịch UBND các tỉnh"]


def test_recipient_after_stamp_debris_on_the_line():
    assert recipients("ĐỀN ạ Ngày: 2 3.=10-. Kính gửi: Lãnh đạo UBND tỉnh Lâm Đồng.\n\nThực hiện\n") == [
        "Lãnh đạo UBND tỉnh Lâm Đồng"]


def test_no_recipients():
    assert recipients("KẾ HOẠCH\nCông tác năm 2024\nCăn cứ Luật;\n") == []


# ---------------------------------------------------------------- distribution

def test_distribution_keeps_luu_as_written_without_trailing_punctuation():
    text = "Nơi nhận:\n- Như trên;\n- TT. Huyện ủy;\n- Lưu: VT, NV.\n\nTM. ỦY BAN NHÂN DÂN\nCHỦ TỊCH\n\nTrần Bảo Trung\n"
    assert distribution(text) == ["Như trên", "TT. Huyện ủy", "Lưu: VT, NV"]


def test_distribution_separates_the_interleaved_signature_column():
    text = ("Nơi nhận: KT. CHỦ TỊCH\n- Như Điều 7; PHÓ CHỦ TỊCH\n- Bộ Tư pháp;\nVỤ CẢI CÁCH HÀNH CHÍNH\n"
            "- Các bộ, cơ quan: Tư pháp, Khoa học và\nCông nghệ (để P/H);\nLê Văn Ba\n- Lưu: VT, NC.\nChâu\nNguyễn Minh\n")
    assert distribution(text) == ["Như Điều 7", "Bộ Tư pháp", "Các bộ, cơ quan: Tư pháp, Khoa học và Công nghệ (để P/H)",
                                  "Lưu: VT, NC"]


def test_distribution_glued_duplicates_and_debris():
    text = "Nơi nhận:\n- Cổng Thông tin điện tử tỉnh;\n- Lưu: VT, KSTT.- Lưu: VT, KSTT ✓\n\nTM. ỦY BAN NHÂN DÂN\n"
    assert distribution(text) == ["Cổng Thông tin điện tử tỉnh", "Lưu: VT, KSTT"]
    text = "Nơi nhận:\n- Như trên; _ CHU TỊCH\n- TT. Huyện ủy; 7\n-Lưu: VT, NCKS. Lại Văn Hoàn\n"
    assert distribution(text) == ["Như trên", "TT. Huyện ủy", "Lưu: VT, NCKS"]


def test_distribution_unbulleted_sub_items_belong_to_the_bullet_above():
    text = "Nơi nhận:\n- VPCP: BTCN;\nTrợ lý, Thư ký TTg: A,\nB;\nCổng TTĐT;\n- Lưu: VT, TH (2) Thạch\nPhạm Mạnh Cường\n"
    assert distribution(text) == ["VPCP: BTCN; Trợ lý, Thư ký TTg: A, B; Cổng TTĐT", "Lưu: VT, TH (2)"]


@pytest.mark.parametrize("luu, kept", [
    ("Lưu: VT, TH (2) Thạch", "Lưu: VT, TH (2)"),  # the drafter's name after the codes
    ("Lưu: VT, NC châu", "Lưu: VT, NC"),
    ("Lưu: VT, VXNV. PD", "Lưu: VT, VXNV. PD"),  # upper-case codes stay as written
    ("Lưu: VT, CCHC&VTLT(Tín).", "Lưu: VT, CCHC&VTLT(Tín)"),
    ("Lưu: VT, PC06 (ĐI). Sl5: ý ˆ", "Lưu: VT, PC06 (ĐI)"),  # OCR debris
    ("Lưu: VT; K2.", "Lưu: VT; K2"),
])
def test_distribution_luu_item(luu, kept):
    assert distribution(f"Nơi nhận:\n- Như trên;\n- {luu}\n") == ["Như trên", kept]


def test_distribution_ocr_anchor():
    assert distribution("Nơỉ nhận:\n- Ban TĐKT Trung ương;\n-Lưu: VT, NCKS.\n") == ["Ban TĐKT Trung ương", "Lưu: VT, NCKS"]


# ---------------------------------------------------------------- signer

@pytest.mark.parametrize("prefix", ["TM.", "KT.", "TL.", "TUQ.", "Q."])
def test_signing_prefixes(prefix):
    s = signer(f"Nơi nhận:\n- Như trên;\n- Lưu: VT.\n\n{prefix} GIÁM ĐỐC\nPHÓ GIÁM ĐỐC\n\nNguyễn Văn An\n")
    assert s["authority"] == prefix
    assert s["on_behalf_of"] == "Giám đốc" and s["title"] == "Phó Giám đốc" and s["name"] == "Nguyễn Văn An"


def test_signer_tm_body_markdown_and_title():
    s = signer("Nơi nhận:\n- Lưu: VT, KSTT.\n\n**TM. ỦY BAN NHÂN DÂN\nCHỦ TỊCH**\n\n\n\nLê Thành Đô")
    assert s == {"authority": "TM.", "on_behalf_of": "Ủy ban nhân dân", "title": "Chủ tịch", "name": "Lê Thành Đô"}


def test_signer_without_prefix():
    s = signer("\tNơi nhận:\n- Như trên;\n- Lưu: VT, VXNV. PD\n\n\n\tCHỦ TỊCH\n\nTrần Quốc Nam\n")
    assert s == {"title": "Chủ tịch", "name": "Trần Quốc Nam"}


def test_signer_interleaved_two_column_layer():
    s = signer("Nơi nhận: KT. BỘ TRƯỞNG, CHỦ NHIỆM\n- Như trên; PHÓ CHỦ NHIỆM\n- Lưu: VT, TH (2) Thạch\nPhạm Mạnh Cường\n")
    assert s == {"authority": "KT.", "on_behalf_of": "Bộ trưởng, Chủ nhiệm", "title": "Phó Chủ nhiệm",
                 "name": "Phạm Mạnh Cường"}


def test_signer_name_above_the_prefix_and_truncated_title():
    s = signer("Nơỉ nhận:\n- Ban TĐKT Trung ương;\n-Lưu: VT, NCKS.\n\nLại Văn Hoàn\n\nKT. CHU\n")
    assert s["authority"] == "KT." and s["name"] == "Lại Văn Hoàn"
    assert "title" not in s and "on_behalf_of" not in s  # "CHU" is unreadable: unknown, not guessed


def test_signer_name_is_one_line_and_the_drafter_word_beside_it_is_not_joined():
    s = signer("Nơi nhận: KT. CHỦ TỊCH\n- Như Điều 7; PHÓ CHỦ TỊCH\n- Lưu: VT, NC.\nChâu\nNguyễn Minh")
    assert s["name"] == "Nguyễn Minh"


def test_signer_title_takes_the_unit_line_below_it():
    s = signer("Nơi nhận: TL. BỘ TRƯỞNG\n- Như trên; VỤ TRƯỞNG\n- Bộ trưởng (để b/c);\nVỤ CẢI CÁCH HÀNH CHÍNH\n"
               "- Lưu: VT, CCHC.\nPhạm Minh Hùng")
    assert s == {"authority": "TL.", "on_behalf_of": "Bộ trưởng", "title": "Vụ trưởng Vụ Cải cách hành chính",
                 "name": "Phạm Minh Hùng"}


def test_signer_title_with_qualifier():
    assert case_title("PHÓ TỔ TRƯỞNG THƯỜNG TRỰC") == "Phó Tổ trưởng thường trực"
    s = signer("Nơi nhận:\n- Lưu: VT.\n\nKT. TỔ TRƯỞNG\nPHÓ TỔ TRƯỞNG THƯỜNG TRỰC\n\nĐại tá Bùi Duy Hưng\n")
    assert s == {"authority": "KT.", "on_behalf_of": "Tổ trưởng", "title": "Phó Tổ trưởng thường trực",
                 "name": "Bùi Duy Hưng"}


def test_signer_rank_is_not_part_of_the_name():
    s = signer("Nơi nhận:\n- Như kính gửi;\n- Lưu: VT, PC04 (ĐI).\n\nGIÁM ĐỐC\n\nThiếu tướng Trương Minh Đương\n")
    assert s == {"title": "Giám đốc", "name": "Trương Minh Đương"}


def test_signer_ocr_title_without_diacritics():
    assert signer("Nơi nhận: GIÁM ĐÓC\n- Như kính gửi;\n- Lưu VT.\n")["title"] == "Giám đốc"


@pytest.mark.parametrize("line, name", [
    ("Lê Thành Đô", "Lê Thành Đô"), ("Trần Bảo Trung", "Trần Bảo Trung"), ("Đại tá Bùi Duy Hưng", "Bùi Duy Hưng"),
    ("CHỦ TỊCH", None), ("Như trên", None), ("Sở Nội Vụ", None), ("Thực Hiện", None), ("Lê", None),
])
def test_name_shape(line, name):
    got = name_shape(line)
    assert (got[0] if got else None) == name


@pytest.mark.parametrize("upper, cased", [
    ("CHỦ TỊCH", "Chủ tịch"), ("PHÓ CHỦ TỊCH", "Phó Chủ tịch"), ("GIÁM ĐỐC", "Giám đốc"),
    ("PHÓ GIÁM ĐÓC", "Phó Giám đốc"), ("VỤ TRƯỞNG", "Vụ trưởng"), ("BỘ TRƯỞNG", "Bộ trưởng"), ("CHU", None),
])
def test_case_title(upper, cased):
    assert case_title(upper) == cased


def test_distribution_fallback_without_a_readable_anchor_and_table_borders():
    text = ("triển khai thực hiện./.\n\nni c. : TM. ỦY BAN NHÂN DÂN\n| - Hội đồng Trung ương;\n"
            "| - Bộ Công an, Bộ Y\n| tế (để báo cáo);\n- Lưu: VT, P5. NMC (100b). Đại tá Bùi Duy Hưng\n")
    doc = Document.from_text(text)
    hits, anchor = find_distribution(doc)
    assert [h.value for h in hits] == ["Hội đồng Trung ương", "Bộ Công an, Bộ Y tế (để báo cáo)", "Lưu: VT, P5. NMC (100b)"]
    assert anchor.method == "luu_fallback"
    s = {k.split(".")[1]: h.value for k, h in find_signer(doc, anchor).items()}
    assert s == {"authority": "TM.", "on_behalf_of": "Ủy ban nhân dân", "name": "Bùi Duy Hưng"}
