"""The signature block and the "Nơi nhận" list read from OCR-damaged text, one test per rule.

Every snippet here is made up for the test (invented bodies, numbers and names): the rules must hold for
dispatches nobody has seen, so nothing is copied from the samples or their gold records.
"""
import pytest

from congvan.extractors import tables
from congvan.extractors.parties import find_distribution, repair_item
from congvan.extractors.signer import case_title, find_signer
from congvan.extractors.spans import REPAIRED, fold
from congvan.pipeline.document import Document
from congvan.pipeline.run import build_record


def distribution(text):
    return [h.value for h in find_distribution(Document.from_text(text))[0]]


def signer(text):
    doc = Document.from_text(text)
    return {k.split(".")[1]: h.value for k, h in find_signer(doc, find_distribution(doc)[1]).items()}


BODY_END = "Các cơ quan, đơn vị căn cứ nội dung trên triển khai thực hiện./.\n\n"


# ---------------------------------------------------------------- signing prefix without its dot

@pytest.mark.parametrize("prefix,upper,cased", [
    ("KT.", "KT CHỦ TỊCH", "Chủ tịch"),
    ("KT.", "KT TỔ TRƯỞNG", "Tổ trưởng"),
    ("TL.", "TL BỘ TRƯỞNG", "Bộ trưởng"),
    ("TUQ.", "TUQ GIÁM ĐỐC", "Giám đốc"),
    ("TM.", "TM ỦY BAN NHÂN DÂN", "Ủy ban nhân dân"),
])
def test_prefix_whose_dot_ocr_lost_is_read_before_a_known_title_or_body(prefix, upper, cased):
    text = BODY_END + f"Nơi nhận: {upper}\n- Như trên;\n- Lưu: VT.\nPHÓ GIÁM ĐỐC\n\nPhan Thị Hạnh\n"
    got = signer(text)
    assert got["authority"] == prefix and got["on_behalf_of"] == cased


def test_every_loose_prefix_in_the_table_has_a_test_above():
    assert {p for p, _ in tables.signing_prefixes_loose()} == {"TM.", "KT.", "TL.", "TUQ."}


def test_prefix_without_dot_is_marked_repaired_in_provenance():
    text = ("THÔNG BÁO\nKết luận của Chủ tịch\n" + BODY_END
            + "Nơi nhận:\n- Các phòng, ban;\n- Lưu: VT.\n\nKT GIÁM ĐỐC\nPHÓ GIÁM ĐỐC\n\nĐinh Văn Lộc\n")
    rec = build_record(Document.from_text(text))
    assert rec.signer.authority == "KT." and rec.signer.title == "Phó Giám đốc"
    prov = rec.provenance["signer.authority"]
    assert prov.method.endswith(":no_dot") and prov.confidence == REPAIRED
    assert text[prov.start:prov.end] == "KT"


@pytest.mark.parametrize("line", [
    "KT NĂM 2024 ĐẠT",         # letters "KT" before words that are no title
    "TM HÀNG HÓA XUẤT KHẨU",   # "TM" (thương mại) before something that is no body
    "TL VÀ KẾT QUẢ",
])
def test_bare_letters_before_other_upper_case_words_are_no_prefix(line):
    text = BODY_END + f"Nơi nhận:\n- Như trên;\n- Lưu: VT.\n{line}\nGIÁM ĐỐC\n\nPhan Thị Hạnh\n"
    got = signer(text)
    assert "authority" not in got and got["title"] == "Giám đốc"


# ---------------------------------------------------------------- OCR confusions inside titles

@pytest.mark.parametrize("upper,cased", [
    ("CHỦ TlCH", "Chủ tịch"),
    ("PHÓ GIÁM Đ0C", "Phó Giám đốc"),
    ("PHO CHU TICH", "Phó Chủ tịch"),
    ("CHÁNH VĂN PH0NG", "Chánh Văn phòng"),
])
def test_titles_read_through_ocr_confusions(upper, cased):
    assert case_title(upper) == cased


def test_confusion_table_rows_each_repair_a_title():
    for seen, meant in ((r[0], r[1]) for r in tables._rows("ocr_confusions.tsv")):
        word = "CHỦ TỊCH" if meant == "I" else "GIÁM ĐỐC"
        broken = word.replace("I" if meant == "I" else "Ố", seen, 1)
        assert case_title(broken) in ("Chủ tịch", "Giám đốc"), (seen, broken)


def test_signature_title_with_l_for_i_in_a_giay_moi():
    text = ("GIẤY MỜI\nDự hội nghị tổng kết\n" + BODY_END
            + "Nơi nhận:\n- Như thành phần mời;\n- Lưu: VT, VP.\n\nTL. CHỦ TlCH\nCHÁNH VĂN PHÒNG\n\nVõ Thanh Tùng\n")
    got = signer(text)
    assert got == {"authority": "TL.", "on_behalf_of": "Chủ tịch", "title": "Chánh Văn phòng", "name": "Võ Thanh Tùng"}


# ---------------------------------------------------------------- distribution without a readable "Nơi nhận"

def test_list_found_from_luu_over_blank_lines_and_an_unbulleted_continuation():
    text = (BODY_END + "NQ nhậm KT GIÁM ĐỐC\n\n- Bộ Tư pháp, Bộ Tài chính, Bộ Xây ĐẾN, :\n\n"
            "dựng, Bộ Công Thương (để báo cáo); PHÓ GIÁM ĐỐC\n\n- UBND các huyện (để thực hiện);\n\n"
            "- Lưu: VT, KH.\n\nTrịnh Minh Quân\n")
    got = distribution(text)
    assert got[0].startswith("Bộ Tư pháp, Bộ Tài chính") and got[0].endswith("Bộ Công Thương (để báo cáo)")
    assert got[1:] == ["UBND các huyện (để thực hiện)", "Lưu: VT, KH"]
    s = signer(text)
    assert s["authority"] == "KT." and s["title"] == "Phó Giám đốc" and s["name"] == "Trịnh Minh Quân"


def test_anchor_lost_letters_list_still_read_from_luu():
    text = BODY_END + "ơi nhận: TM. ỦY BAN NHÂN DÂN\n- Như trên; CHỦ TỊCH\n\n- Sở Y tế;\n\n- Lưu: VT.\n\nHồ Văn Khải\n"
    assert distribution(text) == ["Như trên", "Sở Y tế", "Lưu: VT"]
    assert signer(text) == {"authority": "TM.", "on_behalf_of": "Ủy ban nhân dân", "title": "Chủ tịch",
                            "name": "Hồ Văn Khải"}


# ---------------------------------------------------------------- item debris

@pytest.mark.parametrize("line,item", [
    ("- Các đơn vị trực thuộc (để thực hiện); ; im ;", "Các đơn vị trực thuộc (để thực hiện)"),  # ';' run + scrap
    ("- Ban Dân tộc tỉnh: tay ⁄", "Ban Dân tộc tỉnh"),          # ';' read as ':' + ink scrap
    ("- Ban Dân tộc tỉnh: ư", "Ban Dân tộc tỉnh"),
    ("- Lãnh đạo Văn phòng, — _.", "Lãnh đạo Văn phòng"),        # dashes and underscores from the rule line
])
def test_ocr_scraps_after_an_item_are_cut(line, item):
    assert distribution(f"Nơi nhận:\n{line}\n- Lưu: VT.\n")[0] == item


@pytest.mark.parametrize("line,item", [
    ("- VPUB: LĐ, KTTH, NC;", "VPUB: LĐ, KTTH, NC"),             # a label with codes is no scrap
    ("- Như trên: để thực hiện;", "Như trên: để thực hiện"),     # words, not a scrap
    ("- Sở Tài chính; Sở Xây dựng;", "Sở Tài chính; Sở Xây dựng"),  # two items on a line, kept together
])
def test_item_text_after_a_colon_or_semicolon_that_is_no_scrap_stays(line, item):
    assert distribution(f"Nơi nhận:\n{line}\n- Lưu: VT.\n")[0] == item


def test_luu_loses_a_lone_scrap_after_its_codes():
    assert distribution("Nơi nhận:\n- Như trên;\n- Lưu VT, PC02 (Đ1). 2\n") == ["Như trên", "Lưu VT, PC02 (Đ1)"]
    assert distribution("Nơi nhận:\n- Như trên;\n- Lưu: VT, TH (2).\n") == ["Như trên", "Lưu: VT, TH (2)"]
    assert distribution("Nơi nhận:\n- Như trên;\n- Lưu: VT, KT. PD\n") == ["Như trên", "Lưu: VT, KT. PD"]


def test_an_item_whose_bullet_ocr_dropped_starts_a_new_item():
    text = ("Nơi nhận:\n- Thường trực Huyện ủy;\n- Lãnh đạo UBND huyện.\n\nPhòng Tài chính - Kế hoạch huyện,\n"
            "- Lưu: VT.\n")
    assert distribution(text) == ["Thường trực Huyện ủy", "Lãnh đạo UBND huyện", "Phòng Tài chính - Kế hoạch huyện",
                                  "Lưu: VT"]


def test_unbulleted_continuation_after_a_semicolon_stays_in_its_item():
    text = "Nơi nhận:\n- Như trên;\n- VPCP: BTCN, các Vụ: TH, KTTH;\nCổng TTĐT;\n- Lưu: VT, TH.\n"
    assert distribution(text) == ["Như trên", "VPCP: BTCN, các Vụ: TH, KTTH; Cổng TTĐT", "Lưu: VT, TH"]


# ---------------------------------------------------------------- reading items against the stock tables

@pytest.mark.parametrize("seen,meant", [
    ("ư trên", "Như trên"),                       # first letters lost
    ("Nhu trén", "Như trên"),
    ("Như kinh gủi", "Như kính gửi"),
    ("Thường tuức Huyện ủy", "Thường trực Huyện ủy"),  # a stock phrase inside an item
    ("Bạn Tuyên giáo Tỉnh ủy", "Ban Tuyên giáo Tỉnh ủy"),  # a body word with a wrong mark
    ("Bạn TDKT tỉnh", "Ban TĐKT tỉnh"),           # and an abbreviation that lost its Đ
    ("Thường trực HDND xã", "Thường trực HĐND xã"),
    ("Thường trực Thành uỷ", "Thường trực Thành ủy"),  # old-style tone placement
    ("Uỷ ban MTTQ huyện", "Ủy ban MTTQ huyện"),
])
def test_damaged_item_read_back(seen, meant):
    assert repair_item(seen) == (meant, True)


@pytest.mark.parametrize("item", [
    "Như trên", "Như Kính gửi", "Lãnh đạo SNV", "Cổng Thông tin điện tử tỉnh", "Vũ Văn Hải",
    "Thường trú tại xã", "Lưu: VT, DV", "Quý Bộ", "Bản sao lưu", "Số liệu thống kê", "Sở Nội vụ",
])
def test_items_printed_right_are_left_alone(item):
    assert repair_item(item) == (item, False)


def test_every_stock_phrase_is_read_back_from_a_one_letter_slip():
    for phrase in tables.list_phrases():
        words = phrase.split()
        w = words[-1]
        i = len(w) // 2
        words[-1] = w[:i] + ("x" if w[i] != "x" else "y") + w[i + 1:]
        damaged = "Các " + " ".join(words) + " tỉnh" if len(fold(phrase)) >= 8 else " ".join(words)
        fixed, changed = repair_item(damaged)
        assert changed and phrase.casefold() in fixed.casefold(), (phrase, damaged, fixed)


def test_every_list_abbreviation_is_read_back_without_its_bar():
    for abbr in tables.list_abbreviations():
        assert repair_item(f"Thường trực {fold(abbr)} tỉnh") == (f"Thường trực {abbr} tỉnh", True)


def test_repaired_items_carry_lower_confidence_and_their_span():
    text = "Nơi nhận:\n- Bạn TDKT tỉnh;\n- Sở Y tế;\n- Lưu: VT.\n"
    doc = Document.from_text(text)
    hits = find_distribution(doc)[0]
    assert [(h.value, h.confidence) for h in hits][:2] == [("Ban TĐKT tỉnh", REPAIRED), ("Sở Y tế", 0.85)]
    assert text[hits[0].start:hits[0].end].startswith("Bạn TDKT tỉnh")


# ---------------------------------------------------------------- whole records, several kinds of dispatch

QD = """ỦY BAN NHÂN DÂN
HUYỆN TÂN LẬP
Số: 45/QĐ-UBND
Tân Lập, ngày 12 tháng 4 năm 2024
QUYẾT ĐỊNH
Về việc thành lập Tổ công tác cải cách hành chính
Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;
Điều 1. Thành lập Tổ công tác.
Điều 2. Chánh Văn phòng HĐND và UBND huyện chịu trách nhiệm thi hành Quyết định này./.

ơi nhận: TM ỦY BAN NHÂN DÂN
- Như Điều 2; CHỦ TỊCH

- Thường tuức Huyện uỷ;

- Bạn TDKT tỉnh: ~ ⁄
- Lãnh đạo UBND huyện, — _.

Phòng Nội vụ huyện,
- Lưu: VT, NV.
Hoàng Văn Bình
"""


def test_quyet_dinh_ocr_noisy_signature_block():
    rec = build_record(Document.from_text(QD))
    assert rec.signer.model_dump(include={"name", "title", "authority", "on_behalf_of"}) == {
        "name": "Hoàng Văn Bình", "title": "Chủ tịch", "authority": "TM.", "on_behalf_of": "Ủy ban nhân dân"}
    assert rec.distribution == ["Như Điều 2", "Thường trực Huyện ủy", "Ban TĐKT tỉnh", "Lãnh đạo UBND huyện",
                                "Phòng Nội vụ huyện", "Lưu: VT, NV"]
    for i in range(len(rec.distribution)):
        p = rec.provenance[f"distribution[{i}]"]
        assert p.page == 1 and 0 < p.confidence <= 1 and p.method


TO_TRINH = """SỞ XÂY DỰNG
Số: 77/TTr-SXD
Hòa Bình, ngày 03 tháng 9 năm 2025
TỜ TRÌNH
Về việc phê duyệt danh mục công trình
Kính gửi: Ủy ban nhân dân tỉnh.
Sở Xây dựng kính trình Ủy ban nhân dân tỉnh xem xét, phê duyệt./.

Nơi nhận: Q. GIÁM ĐÓC
- Như trên;
- Lưu: VT, QLXD.

Bùi Thị Ngọc
"""


def test_to_trinh_acting_head_with_ocr_title():
    rec = build_record(Document.from_text(TO_TRINH))
    assert (rec.signer.authority, rec.signer.on_behalf_of, rec.signer.name) == ("Q.", "Giám đốc", "Bùi Thị Ngọc")
    assert rec.distribution == ["Như trên", "Lưu: VT, QLXD"]


BAO_CAO = """BỘ NÔNG NGHIỆP VÀ MÔI TRƯỜNG
Số: 310/BC-BNNMT
Hà Nội, ngày 20 tháng 11 năm 2025
BÁO CÁO
Kết quả kiểm tra công tác phòng chống thiên tai
Bộ báo cáo Thủ tướng Chính phủ kết quả như sau./.

Nơi nhận: TUQ. BỘ TRƯỞNG
- Thủ tướng Chính phủ (để b/c); CỤC TRƯỞNG
- Lãnh đạo Bộ;  CỤC QUẢN LÝ ĐÊ ĐIỀU
- Lưu: VT, ĐĐ.

Lương Quốc Việt
"""


def test_bao_cao_tuq_with_unit_line_between_items():
    rec = build_record(Document.from_text(BAO_CAO))
    assert rec.signer.authority == "TUQ." and rec.signer.on_behalf_of == "Bộ trưởng"
    assert rec.signer.title.startswith("Cục trưởng") and rec.signer.name == "Lương Quốc Việt"
    assert rec.distribution[:2] == ["Thủ tướng Chính phủ (để b/c)", "Lãnh đạo Bộ"]


CONG_DIEN = """CÔNG ĐIỆN
Về việc chủ động ứng phó với bão số 3
CHỦ TỊCH ỦY BAN NHÂN DÂN TỈNH điện:
- Chủ tịch UBND các huyện, thành phố;
- Giám đốc các Sở: Nông nghiệp và Môi trường, Xây dựng.
Yêu cầu các đơn vị triển khai ngay các biện pháp ứng phó./.

Nơi nhận: KT. CHỦ TỊCH
- Như trên; PHÓ CHỦ TlCH
- Thường trực Tỉnh uỷ;
- Lưu: VT, NN.

Đặng Quốc Huy
"""


def test_cong_dien_with_ocr_slips_in_title_and_items():
    rec = build_record(Document.from_text(CONG_DIEN))
    assert (rec.signer.authority, rec.signer.on_behalf_of, rec.signer.title, rec.signer.name) == (
        "KT.", "Chủ tịch", "Phó Chủ tịch", "Đặng Quốc Huy")
    assert rec.distribution == ["Như trên", "Thường trực Tỉnh ủy", "Lưu: VT, NN"]


def test_clean_text_layer_items_come_back_unchanged():
    text = ("THÔNG BÁO\nLịch công tác tuần\n" + BODY_END + "Nơi nhận:\n- Như trên;\n- Thường trực Tỉnh ủy;\n"
            "- Ban TĐKT tỉnh;\n- Cổng Thông tin điện tử tỉnh;\n- Lưu: VT, TH.\n\nTL. CHỦ TỊCH\nCHÁNH VĂN PHÒNG\n\n"
            "Mai Thị Lan\n")
    rec = build_record(Document.from_text(text))
    assert rec.distribution == ["Như trên", "Thường trực Tỉnh ủy", "Ban TĐKT tỉnh", "Cổng Thông tin điện tử tỉnh",
                                "Lưu: VT, TH"]
    assert all(rec.provenance[f"distribution[{i}]"].confidence == 0.85 for i in range(5))


# ---------------------------------------------------------------- layout: the signature column above "Nơi nhận"

@pytest.mark.parametrize("gap", ["\n", "\n\n"])
def test_signature_column_read_above_noi_nhan(gap):
    text = (BODY_END + f"KT. GIÁM ĐỐC{gap}PHÓ GIÁM ĐỐC{gap}{gap}Tạ Minh Châu{gap}Nơi nhận:\n- Như trên;\n"
            "- Lưu: VT, KHTC.\n")
    assert signer(text) == {"authority": "KT.", "on_behalf_of": "Giám đốc", "title": "Phó Giám đốc",
                            "name": "Tạ Minh Châu"}


def test_body_text_above_noi_nhan_is_not_taken_for_the_signature_column():
    text = ("Đề nghị các đơn vị gửi báo cáo về Sở Nội vụ trước ngày 15/5/2025.\nTHƯỜNG TRỰC HỘI ĐỒNG\n"
            "Nơi nhận:\n- Như trên;\n- Lưu: VT.\n\nTL. GIÁM ĐỐC\nCHÁNH VĂN PHÒNG\n\nLục Thị Yến\n")
    assert signer(text) == {"authority": "TL.", "on_behalf_of": "Giám đốc", "title": "Chánh Văn phòng",
                            "name": "Lục Thị Yến"}


# ---------------------------------------------------------------- OCR marks around anchors, bullets and names

@pytest.mark.parametrize("anchor", ["N0i nhận:", "NƠI NHẬN:", "Nơi nhặn:", "Nôi nhận:"])
def test_noi_nhan_anchor_read_through_ocr_slips(anchor):
    text = BODY_END + f"{anchor}\n- Như trên;\n- Sở Y tế;\n- Lưu: VT.\n\nGIÁM ĐỐC\n\nLâm Văn Phúc\n"
    doc = Document.from_text(text)
    hits, found = find_distribution(doc)
    assert found is not None and found.method == "noi_nhan"
    assert [h.value for h in hits] == ["Như trên", "Sở Y tế", "Lưu: VT"]


@pytest.mark.parametrize("prefix", ["K.T.", "KT:", "KT;", "K/T", "KT,"])
def test_ocr_forms_of_kt(prefix):
    text = BODY_END + f"Nơi nhận: {prefix} CHỦ TỊCH\n- Như trên; PHÓ CHỦ TỊCH\n- Lưu: VT.\n\nCao Văn Sơn\n"
    assert signer(text)["authority"] == "KT."


@pytest.mark.parametrize("bullet", ["=", "_", "~", "•", "+", "»"])
def test_bullets_ocr_reads_for_a_dash(bullet):
    text = f"Nơi nhận:\n{bullet} Như trên;\n{bullet} Sở Giáo dục và Đào tạo;\n- Lưu: VT.\n"
    assert distribution(text) == ["Như trên", "Sở Giáo dục và Đào tạo", "Lưu: VT"]


@pytest.mark.parametrize("line", ["| Đỗ Văn Hoàn |", "Ðỗ Văn Hoàn.", "~ Đỗ Văn Hoàn", "Đỗ Văn Hoàn ,"])
def test_name_line_with_specks_eth_or_full_stop(line):
    text = BODY_END + f"Nơi nhận:\n- Như trên;\n- Lưu: VT.\n\nTM. ỦY BAN NHÂN DÂN\nCHỦ TỊCH ~\n\n{line}\n"
    got = signer(text)
    assert got["name"] == "Đỗ Văn Hoàn" and got["title"] == "Chủ tịch"


def test_item_after_a_blank_line_with_lost_bullet_but_not_in_a_text_layer():
    ocr = "Nơi nhận:\n- Như trên;\n\nSở Tài chính;\n\n- Lưu: VT.\n"
    layer = "Nơi nhận:\n- Các sở: Nội vụ, Tư pháp;\nSở Tài chính;\n- Lưu: VT.\n"  # a wrapped item in a text layer
    assert distribution(ocr) == ["Như trên", "Sở Tài chính", "Lưu: VT"]
    assert distribution(layer) == ["Các sở: Nội vụ, Tư pháp; Sở Tài chính", "Lưu: VT"]


# ---------------------------------------------------------------- KT.: the deputy's "PHÓ" lost under a stamp

def test_kt_title_equal_to_the_head_is_read_as_the_deputy_with_low_confidence():
    text = (BODY_END + "Nơi nhận:\n- Như trên;\n- Lưu: VT.\n\n` KT. CHỦ TỊCH '\nCHỦ TỊCH\n, + ý tiền\n"
            "Kha Văn Lâm  -\n")
    doc = Document.from_text(text)
    hits = find_signer(doc, find_distribution(doc)[1])
    assert {k: h.value for k, h in hits.items()} == {
        "signer.authority": "KT.", "signer.on_behalf_of": "Chủ tịch", "signer.title": "Phó Chủ tịch",
        "signer.name": "Kha Văn Lâm"}
    assert hits["signer.title"].confidence == 0.5 and hits["signer.title"].method.endswith(":kt_deputy")


@pytest.mark.parametrize("block,title", [
    ("KT. BỘ TRƯỞNG\nTHỨ TRƯỞNG", "Thứ trưởng"),          # a ministry's deputy: no "Phó"
    ("KT. CHỦ TỊCH\nPHÓ CHỦ TỊCH", "Phó Chủ tịch"),       # printed right: unchanged
    ("TM. ỦY BAN NHÂN DÂN\nCHỦ TỊCH", "Chủ tịch"),        # TM.: the head signs himself
    ("KT. CHỦ TỊCH", None),                               # no title line: not guessed
])
def test_kt_deputy_rule_leaves_other_blocks_alone(block, title):
    text = BODY_END + f"Nơi nhận:\n- Như trên;\n- Lưu: VT.\n\n{block}\n\nKha Văn Lâm\n"
    assert signer(text).get("title") == title


@pytest.mark.parametrize("line,item", [
    ("- Ban Dân tộc tỉnh, tệ >", "Ban Dân tộc tỉnh"),        # a comma, then a scrap with a stray symbol
    ("- Các phường, xã;", "Các phường, xã"),                  # a short last word after a comma is a word
    ("- UBND các xã, thị trấn;", "UBND các xã, thị trấn"),
])
def test_scrap_after_a_comma_needs_a_stray_symbol(line, item):
    assert distribution(f"Nơi nhận:\n{line}\n- Lưu: VT.\n")[0] == item


@pytest.mark.parametrize("line,name", [
    ("Lại văn Hoàn", "Lại Văn Hoàn"),
    ("Nguyễn thị Thu Hà", "Nguyễn Thị Thu Hà"),
])
def test_middle_name_read_in_lower_case(line, name):
    from congvan.extractors.signer import name_shape
    assert name_shape(line)[0] == name


@pytest.mark.parametrize("line", ["Lê văn bản", "Lê các Sở", "Trần và Lê"])
def test_lower_case_words_that_are_no_middle_name_stay_no_name(line):
    from congvan.extractors.signer import name_shape
    assert name_shape(line) is None


def test_every_middle_name_in_the_table_is_read_back_from_lower_case():
    from congvan.extractors.signer import name_shape
    for middle in tables.middle_names():
        assert name_shape(f"Trần {middle.lower()} Khoa") == (f"Trần {middle} Khoa", 0), middle
