"""Tasks: one test per rule (extractors/tasks.py), on small strings, page tables and the seeds."""
from congvan.extractors.tasks import coordinators_in, find_tasks, split_bodies, subject_of
from congvan.pipeline.document import Document, Page
from conftest import seed_text


def tasks(text):
    return find_tasks(Document.from_text(text))


TAB_TABLE = (
    "Ngày 10 tháng 01 năm 2024\n"
    "Số TT\tNhiệm vụ cụ thể\tĐơn vị chủ trì tham mưu\tĐơn vị phối hợp (thực hiện)\n"
    "I\tNhiệm vụ thực hiện trong Quý I\t\t\n"
    "1\tBan hành Kế hoạch năm 2024\tSở Nội vụ (Ban Thi đua, khen thưởng)\tVăn phòng UBND tỉnh; Đài PTTH tỉnh\n"
    "2\tBan hành Kế hoạch tổ chức phong trào \"Cả nước thi đua\tSở Giáo dục và Đào tạo\tSở Nội vụ\n"
    "\txây dựng xã hội học tập”\t\t\n"
    "V\tNhiệm vụ thực hiện thường xuyên trong năm 2024\t\t\n"
    "1\tChỉ đạo tuyên truyền\tSở Nội vụ\t- Thành viên Hội đồng SK - ĐTKH tỉnh; - Văn phòng UBND tỉnh.\n"
    "\nIV. TỔ CHỨC THỰC HIỆN\n"
)


def test_tab_table_rows_groups_and_coordinators():
    ts = tasks(TAB_TABLE)
    assert [(t.item, t.deadline) for t in ts] == [("I.1", "2024-Q1"), ("I.2", "2024-Q1"), ("V.1", "recurring")]
    assert ts[0].coordinators == ["Văn phòng UBND tỉnh", "Đài PTTH tỉnh"]
    assert ts[1].text.endswith("xây dựng xã hội học tập”")
    assert ts[2].coordinators == ["Thành viên Hội đồng SK - ĐTKH tỉnh", "Văn phòng UBND tỉnh"]


def test_page_tables_from_pdfplumber():
    rows = [["Số TT", "Nhiệm vụ cụ thể", "Đơn vị chủ trì", "Đơn vị phối hợp"],
            ["II", "Nhiệm vụ thực hiện trong Quý II", None, None],
            ["1", "Tổ chức tập huấn", "Sở Nội vụ", "- Văn phòng UBND tỉnh; - Các sở"]]
    doc = Document(path="x", sha256="", pages=[Page(1, "năm 2024\nTổ chức tập huấn", "text_layer", "", tables=[rows])])
    (t,) = find_tasks(doc)
    assert (t.item, t.assignee, t.deadline, t.coordinators) == ("II.1", "Sở Nội vụ", "2024-Q2", ["Văn phòng UBND tỉnh", "Các sở"])


def test_giao_x_co_trach_nhiem_lettered_items():
    ts = tasks("4. Giao Sở Nội vụ có trách nhiệm:\n\na) Tham mưu kiểm tra, rà soát.\nb) Theo dõi, đôn đốc các cơ quan.\n")
    assert [(t.item, t.assignee) for t in ts] == [("4.a)", "Sở Nội vụ"), ("4.b)", "Sở Nội vụ")]


def test_subject_chu_tri_phoi_hop():
    (t,) = tasks("2. Sở Thông tin và Truyền thông chủ trì, phối hợp với Đài Phát thanh và Truyền hình tỉnh, "
                 "Báo Thái Bình tăng cường các hoạt động thông tin, tuyên truyền.\n")
    assert t.assignee == "Sở Thông tin và Truyền thông"
    assert t.coordinators == ["Đài Phát thanh và Truyền hình tỉnh", "Báo Thái Bình"]


def test_heading_body_paragraphs():
    ts = tasks("IV. TỔ CHỨC THỰC HIỆN\n\n2. Sở Nội vụ (Ban Thi đua – Khen thưởng tỉnh)\n\nChủ trì, phối hợp với các "
               "đơn vị, địa phương triển khai thực hiện Kế hoạch này.\n\nTổ chức tập huấn nghiệp vụ về công tác thi đua.\n\n"
               "3. Các cơ quan thông tin, truyền thông của tỉnh\n\nĐẩy mạnh công tác tuyên truyền.\n")
    assert [(t.item, t.assignee) for t in ts] == [
        ("IV.2", "Sở Nội vụ (Ban Thi đua – Khen thưởng tỉnh)"), ("IV.2", "Sở Nội vụ (Ban Thi đua – Khen thưởng tỉnh)"),
        ("IV.3", "Các cơ quan thông tin, truyền thông của tỉnh")]
    assert ts[0].coordinators == ["các đơn vị, địa phương"]


def test_addressed_intro_gives_assignee_to_the_list():
    ts = tasks("UBND tỉnh yêu cầu các sở, ban, ngành, đoàn thể tỉnh triển khai thực hiện tốt một số nội dung:\n\n"
               "1. Bám sát chủ đề điều hành.\n\n2. Phòng Nội vụ thực hiện tốt chức năng tham mưu.\n")
    assert [t.assignee for t in ts] == ["các sở, ban, ngành, đoàn thể tỉnh", "Phòng Nội vụ"]


def test_goi_chung_la_alias_wins():
    ts = tasks("UBND huyện đề nghị các cơ quan Đảng, các đoàn thể (gọi chung là các cơ quan, đơn vị) tập trung thực hiện như sau:\n\n"
               "1. Bám sát chủ đề.\n")
    assert ts[0].assignee == "các cơ quan, đơn vị"


def test_closing_paragraph_ends_list_but_inline_giao_is_a_task():
    ts = tasks("UBND tỉnh yêu cầu các sở, ban, ngành triển khai một số nội dung:\n\n1. Nâng cao chất lượng hoạt động.\n"
               " Thủ trưởng các cơ quan, đơn vị triển khai thực hiện. Giao Sở Nội vụ có trách nhiệm theo dõi, "
               "thường xuyên nắm tình hình, báo cáo UBND tỉnh./.\n\nNơi nhận:\n- Như trên;\n")
    assert [(t.assignee, t.deadline) for t in ts] == [("các sở, ban, ngành", None), ("Sở Nội vụ", "recurring")]
    assert "Thủ trưởng" not in ts[0].text


def test_no_assignee_no_task():
    assert tasks("II. NHIỆM VỤ TRỌNG TÂM\n\n1.1. Tiếp tục hưởng ứng các phong trào thi đua.\n") == []


def test_helpers():
    assert subject_of("Đề nghị Ủy ban MTTQ tỉnh thực hiện tốt công tác")[0] == "Ủy ban MTTQ tỉnh"
    assert subject_of("Phong trào thi đua phải đảm bảo") is None
    assert coordinators_in("Thường xuyên phối hợp tuyên truyền") == []
    assert split_bodies("Văn phòng UBND tỉnh và các cơ quan, đơn vị có liên quan") == ["Văn phòng UBND tỉnh và các cơ quan, đơn vị có liên quan"]


def test_seed_001(seeds_dir):
    ts = tasks(seed_text("001"))
    table = [t for t in ts if t.prov.method.startswith("table")]
    assert len(table) == 30  # 12 + 4 + 6 + 5 + 3
    assert {t.deadline for t in table} == {"2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4", "recurring"}
    assert any(t.deadline == "2024-03-15" and t.assignee.startswith("Thủ trưởng các sở") for t in ts)


def test_seed_counts(seeds_dir):
    counts = {s: len(tasks(seed_text(s))) for s in ("000", "002", "003", "004")}
    assert counts == {"000": 7, "002": 8, "003": 12, "004": 11}


def test_inline_giao_and_giai_phap():
    ts = tasks("a) Văn phòng chưa theo dõi được tiêu chí này.\nĐề xuất giải pháp khắc phục: Giao Văn phòng UBND tỉnh rà soát "
               "thống kê kết quả (hoàn thành trước ngày 10/12/2025).\n")
    assert [(t.assignee, t.deadline, t.item) for t in ts] == [("Văn phòng UBND tỉnh", "2025-12-10", "a)")]
    (t,) = tasks("Chủ tịch Ủy ban nhân dân tỉnh giao Sở Nội vụ nghiên cứu thực hiện đề nghị trên theo thẩm quyền.")
    assert t.assignee == "Sở Nội vụ"


def test_cited_subject_giao_is_not_a_task():
    assert tasks("Thực hiện Công văn số 2713/UBND-NC của Ủy ban nhân dân tỉnh về việc giao Công an tỉnh tham mưu đề xuất.") == []


def test_dieu_articles_and_leading_clause():
    ts = tasks("Điều 4. Đoàn Luật sư tỉnh A (cũ), Đoàn Luật sư tỉnh B\n(cũ) có trách nhiệm chuyển giao toàn bộ tài sản.\n"
               "Điều 5. Đoàn Luật sư tỉnh A (mới) là tổ chức xã hội - nghề nghiệp.\n"
               "Trong thời hạn 60 ngày làm việc, Ban Chủ nhiệm Đoàn Luật sư lâm thời có trách nhiệm tổ chức Đại hội.\n")
    assert [(t.item, t.assignee) for t in ts] == [("Điều 4", "Đoàn Luật sư tỉnh A (cũ), Đoàn Luật sư tỉnh B (cũ)"),
                                                  ("Điều 5", "Ban Chủ nhiệm Đoàn Luật sư lâm thời")]


def test_giao_x_colon_bullets():
    ts = tasks("b) Giao Sở Nội vụ:\n- Chủ trì, phối hợp với các cơ quan liên quan tham mưu hằng tháng.\n- Tiếp tục tổ chức khảo sát.\n")
    assert [(t.assignee, t.deadline, t.coordinators) for t in ts] == [
        ("Sở Nội vụ", "recurring", ["các cơ quan liên quan"]), ("Sở Nội vụ", None, [])]


def test_not_heads_and_exact_verbs():
    assert subject_of("Báo cáo kết quả công tác năm 2026 đúng thời hạn") is None
    assert subject_of("Giao Sở Tài chính tham mưu UBND tỉnh")[0] == "Sở Tài chính"  # "Tài" is not the verb "tải"
    assert subject_of("Đoàn Luật sư tỉnh A (cũ) có trách nhiệm bàn giao")[0] == "Đoàn Luật sư tỉnh A (cũ)"  # "cũ" ≠ "cử"


def test_subject_after_leading_clause_and_auxiliaries():
    assert subject_of("Đối với kết quả năm 2025, các bộ, tỉnh hoàn thành việc tự đánh giá")[0] == "các bộ, tỉnh"
    assert subject_of("Bộ Nội vụ sẽ tiến hành rà soát, hoàn chỉnh các mẫu phiếu")[0] == "Bộ Nội vụ"
    assert subject_of("Văn phòng UBND tỉnh chưa theo dõi được") is None


def test_item_ending_in_colon_without_children_is_still_a_task():
    (t,) = tasks("IV. Văn phòng Chính phủ trân trọng đề nghị:\n1. Bộ Công an báo cáo kết quả trong ngày 11 tháng 01 năm 2026.\n"
                 "2. Các Bộ, cơ quan, địa phương tải tài liệu Phiên họp tại:\n")[1:]
    assert (t.assignee, t.item) == ("Các Bộ, cơ quan, địa phương", "IV.2")


def test_ocr_verb_and_issuer_speaking():
    assert subject_of("Giao Công an tính chú trì, phối hợp Văn phòng UBND tỉnh phát hành giấy mời")[0] == "Công an tính"
    assert subject_of("Công an tỉnh kính báo cáo, đề xuất đồng chí Chủ tịch xem xét") is None


# ---------------------------------------------------------------- invented dispatches (issue 3)
HEAD = "ỦY BAN NHÂN DÂN TỈNH QUẢNG TRỊ\nSố: 55/TB-UBND\nQuảng Trị, ngày 05 tháng 3 năm 2024\n"


def test_thong_bao_ket_luan_giao_chu_tri_phoi_hop_hoan_thanh_truoc():
    ts = tasks(HEAD + "THÔNG BÁO\nKết luận của Chủ tịch UBND tỉnh\n\n1. Về giải ngân vốn đầu tư công\nGiao Sở Tài chính "
               "chủ trì, phối hợp với Sở Kế hoạch và Đầu tư, Kho bạc Nhà nước tỉnh rà soát, báo cáo UBND tỉnh trước "
               "ngày 15/3/2024.\n2. Sở Xây dựng chủ trì, phối hợp với các sở, ngành liên quan hướng dẫn thủ tục, hoàn "
               "thành trong Quý II/2024.\n")
    assert [(t.item, t.assignee, t.coordinators, t.deadline) for t in ts] == [
        ("1", "Sở Tài chính", ["Sở Kế hoạch và Đầu tư", "Kho bạc Nhà nước tỉnh"], "2024-03-15"),
        ("2", "Sở Xây dựng", ["các sở, ngành liên quan"], "2024-Q2")]


def test_quyet_dinh_dieu_giao_is_a_task_and_thi_hanh_is_not():
    ts = tasks(HEAD + "QUYẾT ĐỊNH\nĐiều 1. Ban hành kèm theo Quyết định này Quy chế làm việc.\nĐiều 2. Giao Sở Nội vụ "
               "chủ trì, phối hợp với Văn phòng UBND tỉnh theo dõi việc thực hiện Quy chế; định kỳ hằng năm báo cáo "
               "UBND tỉnh.\nĐiều 3. Chánh Văn phòng UBND tỉnh, Giám đốc Sở Nội vụ và Thủ trưởng các cơ quan liên quan "
               "chịu trách nhiệm thi hành Quyết định này.\n")
    assert [(t.item, t.assignee, t.deadline) for t in ts] == [("Điều 2", "Sở Nội vụ", "recurring")]


def test_thoi_han_line_dates_the_task_above_and_is_no_task():
    ts = tasks(HEAD + "III. TỔ CHỨC THỰC HIỆN\n1. Sở Nội vụ\na) Chủ trì tổ chức Hội nghị sơ kết.\nThời hạn: trước ngày "
               "30/6/2024.\nb) Hướng dẫn các đơn vị đăng ký thi đua.\nThời gian thực hiện: Quý I/2024.\n2. Sở Tài chính\n"
               "Bố trí kinh phí thực hiện Kế hoạch.\nThời gian: thường xuyên.\n")
    assert [(t.item, t.assignee, t.deadline) for t in ts] == [
        ("III.1.a)", "Sở Nội vụ", "2024-06-30"), ("III.1.b)", "Sở Nội vụ", "2024-Q1"),
        ("III.2", "Sở Tài chính", "recurring")]


def test_deadline_bullet_under_an_action_item():
    (t,) = tasks(HEAD + "2. Sở Văn hóa, Thể thao và Du lịch chủ trì tổ chức Hội thi tuyên truyền viên giỏi.\n"
                 "- Thời gian hoàn thành: tháng 9/2024.\n")
    assert (t.assignee, t.deadline) == ("Sở Văn hóa, Thể thao và Du lịch", "2024-09")


def test_chi_thi_intro_naming_heads_of_bodies():
    ts = tasks(HEAD + "CHỈ THỊ\nChủ tịch UBND tỉnh yêu cầu:\n1. Giám đốc các sở, Thủ trưởng các ban, ngành tỉnh:\na) Quán "
               "triệt đến toàn thể cán bộ, công chức nội dung Chỉ thị này.\nb) Định kỳ hằng quý báo cáo kết quả về Sở Nội "
               "vụ trước ngày 15 của tháng cuối quý.\n")
    assert [(t.item, t.assignee, t.deadline) for t in ts] == [
        ("1.a)", "Giám đốc các sở, Thủ trưởng các ban, ngành tỉnh", None),
        ("1.b)", "Giám đốc các sở, Thủ trưởng các ban, ngành tỉnh", "recurring")]


def test_thoi_han_sentence_naming_a_body_is_a_task():
    ts = tasks(HEAD + "b) Thời hạn thực hiện khảo sát\n- Khảo sát năm 2024: Thời hạn các sở, ngành gửi danh sách về Sở "
               "Nội vụ chậm nhất là ngày 19 tháng 12 năm 2024. Thời hạn các đối tượng trả lời phiếu chậm nhất là ngày "
               "10/01/2025.\n")
    assert [(t.assignee, t.deadline, t.prov.method) for t in ts] == [("các sở, ngành", "2024-12-19", "rule:inline_deadline")]
    assert ts[0].text.startswith("Thời hạn các sở, ngành")
    # near-miss: a deadline line with no body is not a task
    assert tasks(HEAD + "Thời hạn nộp hồ sơ: trước ngày 15/3/2024. Hồ sơ nộp tại Bộ phận một cửa.\n") == []


def test_giao_an_unnamed_unit_inside_an_addressed_list_is_the_addressees_task():
    ts = tasks(HEAD + "3. Tổ chức thực hiện\nĐể bảo đảm tiến độ, Bộ Nội vụ đề nghị các bộ, tỉnh quan tâm, chỉ đạo thực "
               "hiện một số nội dung sau:\n"
               "- Chỉ đạo các cơ quan trực thuộc tổng hợp đầy đủ số liệu.\n"
               "- Giao cơ quan, đơn vị chủ trì làm đầu mối phối hợp với Bộ Nội vụ theo dõi, đôn đốc việc trả lời phiếu.\n"
               "- Giao Văn phòng Ủy ban nhân dân tỉnh theo dõi, tổng hợp kết quả.\n")
    assert [(t.assignee, t.coordinators) for t in ts] == [
        ("các bộ, tỉnh", []), ("các bộ, tỉnh", ["Bộ Nội vụ"]), ("Văn phòng Ủy ban nhân dân tỉnh", [])]


def test_task_table_content_lead_coord_deadline_columns():
    rows = [["TT", "Nội dung", "Cơ quan chủ trì", "Cơ quan phối hợp", "Thời gian hoàn thành", "Sản phẩm hoàn thành"],
            ["1", "Xây dựng Đề án sắp xếp đơn vị hành chính", "Sở Nội vụ", "Sở Tư pháp; Sở Tài chính", "Tháng 6/2024",
             "Đề án"],
            ["2", "Tổng kết phong trào thi đua", "Ban Thi đua - Khen thưởng", "Các sở, ngành", "Năm 2024", "Báo cáo"],
            ["3", "Kiểm tra công tác cải cách hành chính", "Sở Nội vụ", "", "Từ 01/7/2024 đến 30/9/2024", "Kết luận"],
            ["4", "Cập nhật cơ sở dữ liệu", "Sở Thông tin và Truyền thông", "", "Thường xuyên", "Dữ liệu"]]
    doc = Document(path="x", sha256="", pages=[Page(1, "năm 2024\nNội dung", "text_layer", "", tables=[rows])])
    ts = find_tasks(doc)
    assert [(t.item, t.assignee, t.coordinators, t.deadline) for t in ts] == [
        ("1", "Sở Nội vụ", ["Sở Tư pháp", "Sở Tài chính"], "2024-06"),
        ("2", "Ban Thi đua - Khen thưởng", ["Các sở, ngành"], "2024"),
        ("3", "Sở Nội vụ", [], "2024-09-30"),
        ("4", "Sở Thông tin và Truyền thông", [], "recurring")]
    assert all(t.prov.method == "table:pdfplumber" and t.prov.confidence for t in ts)


def test_near_misses_are_not_tasks():
    """General objectives and statements carry no assignee."""
    text = (HEAD + "I. MỤC ĐÍCH, YÊU CẦU\n1. Nâng cao chất lượng công tác thi đua, khen thưởng.\n2. Phong trào thi đua "
            "phải thiết thực, hiệu quả, tránh hình thức.\nSở Nội vụ là cơ quan thường trực của Hội đồng.\n"
            "Căn cứ đề nghị của Sở Nội vụ tại Tờ trình số 12/TTr-SNV ngày 01/3/2024.\n")
    assert tasks(text) == []


def test_coordinators_without_voi_with_cung_and_named_before_phoi_hop():
    assert coordinators_in("Sở Tài chính chủ trì, phối hợp Sở Kế hoạch và Đầu tư, Kho bạc Nhà nước tỉnh tham mưu bố trí "
                           "kinh phí.") == ["Sở Kế hoạch và Đầu tư", "Kho bạc Nhà nước tỉnh"]
    assert coordinators_in("Giao Công an tỉnh chủ trì, phối hợp Văn phòng Ủy ban nhân dân tỉnh phát hành giấy mời.") == [
        "Văn phòng Ủy ban nhân dân tỉnh"]
    assert coordinators_in("Sở Nội vụ chủ trì, phối hợp cùng Ủy ban MTTQ Việt Nam tỉnh, Liên đoàn Lao động tỉnh tổ chức "
                           "Hội nghị.") == ["Ủy ban MTTQ Việt Nam tỉnh", "Liên đoàn Lao động tỉnh"]
    assert coordinators_in("Sở Giáo dục và Đào tạo chủ trì; Sở Y tế, Tỉnh đoàn phối hợp tổ chức tuyên truyền.") == [
        "Sở Y tế", "Tỉnh đoàn"]
    assert coordinators_in("Bố trí kinh phí để triển khai các nhiệm vụ phối hợp với Sở Nội vụ trong triển khai công tác "
                           "điều tra.") == ["Sở Nội vụ"]
    # near-misses: "phối hợp" followed by an action, not a body
    assert coordinators_in("Sở Y tế phối hợp thực hiện tuyên truyền.") == []
    assert coordinators_in("Các đơn vị chủ trì, phối hợp chặt chẽ, bảo đảm tiến độ.") == []


def test_body_colon_action_on_the_same_line():
    ts = tasks(HEAD + "Điều 2. Tổ chức thực hiện\n1. Sở Nội vụ: Chủ trì, phối hợp với các cơ quan liên quan hướng dẫn, "
               "kiểm tra việc thực hiện; tổng hợp báo cáo UBND tỉnh trước ngày 15/12/2024.\n2. Sở Tài chính: Bố trí kinh "
               "phí theo quy định.\n3. UBND các huyện, thành phố: Triển khai thực hiện tại địa phương; báo cáo kết quả "
               "định kỳ 6 tháng.\nĐiều 3. Quyết định này có hiệu lực kể từ ngày ký.\n")
    assert [(t.assignee, t.coordinators, t.deadline) for t in ts] == [
        ("Sở Nội vụ", ["các cơ quan liên quan"], "2024-12-15"), ("Sở Tài chính", [], None),
        ("UBND các huyện, thành phố", [], "recurring")]
    # near-miss: a label with a colon is no body
    assert tasks(HEAD + "1. Lưu ý: Các biểu mẫu gửi kèm theo Công văn này.\n2. Thời hạn: trước ngày 15/3/2024.\n") == []


def test_top_level_bullets_right_under_a_giao_intro():
    ts = tasks(HEAD + "Giao Ủy ban nhân dân các huyện, thành phố:\n- Chỉ đạo UBND cấp xã rà soát, thống kê số hộ nghèo; "
               "hoàn thành trước ngày 31/5/2024.\n- Bố trí nguồn lực thực hiện.\n")
    assert [(t.assignee, t.deadline) for t in ts] == [("Ủy ban nhân dân các huyện, thành phố", "2024-05-31"),
                                                     ("Ủy ban nhân dân các huyện, thành phố", None)]
    # near-miss: bullets after an ordinary paragraph (no intro addressing a body) are no tasks
    assert tasks(HEAD + "Kết quả đạt được như sau:\n- Tổ chức 12 hội nghị tập huấn.\n- Khen thưởng 35 tập thể.\n") == []


def test_trailing_qualifier_is_not_part_of_the_assignee():
    ts = tasks(HEAD + "Chủ tịch UBND tỉnh yêu cầu:\n1. Các sở, ban, ngành, UBND các huyện, thành phố theo chức năng, nhiệm "
               "vụ được giao có trách nhiệm:\na) Tổ chức quán triệt Chỉ thị.\nb) Báo cáo kết quả trước ngày 20 tháng 11 "
               "hằng năm.\n")
    assert [(t.item, t.assignee, t.deadline) for t in ts] == [
        ("1.a)", "Các sở, ban, ngành, UBND các huyện, thành phố", None),
        ("1.b)", "Các sở, ban, ngành, UBND các huyện, thành phố", "recurring")]
