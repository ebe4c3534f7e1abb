"""Movements: one test per rule (extractors/movements.py), on small strings and on the seeds."""
from congvan.extractors.movements import canonical_of, find_movements, split_period
from congvan.pipeline.document import Document
from conftest import seed_text


def mv(text):
    return find_movements(Document.from_text(text))


def test_legacy_quotes_across_line_breaks():
    (m,) = mv("các phong trào thi đua <Đẩy mạnh phát triển kết cấu hạ \ntầng đồng bộ, hiện đại; thực hành tiết kiệm, chống lãng phí=, và")
    assert m.name == "Đẩy mạnh phát triển kết cấu hạ tầng đồng bộ, hiện đại; thực hành tiết kiệm, chống lãng phí"


def test_non_movement_quotations_are_skipped():
    text = ("Bám sát chủ đề điều hành “Kỷ cương trách nhiệm, chủ động kịp thời” của Chính phủ. "
            "Trình Nghị quyết xét tặng Kỷ niệm chương “Vì sự nghiệp xây dựng và phát triển tỉnh”. "
            "Nhân rộng các điển hình tiên tiến, gương “Người tốt, việc tốt”.")
    assert mv(text) == []


def test_list_after_context_word_is_chained():
    names = [m.name for m in mv("phong trào thi đua do Chính phủ phát động “Vì người nghèo - Không để ai bị bỏ lại phía sau”, "
                                 "“Toàn dân chung sức xây dựng nông thôn mới”.")]
    assert names == ["Vì người nghèo - Không để ai bị bỏ lại phía sau", "Toàn dân chung sức xây dựng nông thôn mới"]


def test_period_inside_and_after_the_quote():
    assert split_period("Vì người nghèo - Không để ai bị bỏ lại phía sau giai đoạn 2021 - 2025")[1] == "2021-2025"
    assert split_period("Xóa nhà tạm, nhà dột nát đến năm 2025") == ("Xóa nhà tạm, nhà dột nát", "-2025")
    (m,) = mv("Phong trào “Cả nước chung sức xây dựng nông thôn mới” giai đoạn 2021-2025, và")
    assert m.period == "2021-2025"


def test_launched_by_is_shared_by_the_list_in_its_sentence():
    ms = mv("các phong trào thi đua do Thủ tướng Chính phủ phát động: phong trào “Cả nước chung sức xây dựng "
            "nông thôn mới”, phong trào “Vì người nghèo - Không để ai bị bỏ lại phía sau”. Phong trào thi đua "
            "“Chuyển đổi số tỉnh X” đang triển khai.")
    assert [m.launched_by for m in ms] == ["Thủ tướng Chính phủ", "Thủ tướng Chính phủ", None]


def test_canonical_clusters_national_variants():
    names = ["Cả nước chung sức xây dựng nông thôn mới", "Toàn dân chung sức xây dựng nông thôn mới",
             "Chung sức xây dựng nông thôn mới nâng cao, nông thôn mới kiểu mẫu",
             "Cả nước chung sức xây dựng nông thôn mới giai đoạn 2021-2025"]
    assert {canonical_of(n)[0] for n in names} == {"Cả nước chung sức xây dựng nông thôn mới"}
    assert canonical_of("Toàn dân đoàn kết xây dựng nông thôn mới, đô thị văn minh")[0] != \
        "Cả nước chung sức xây dựng nông thôn mới"


def test_unknown_movement_is_its_own_canonical_without_period():
    assert canonical_of("Nông dân sản xuất, kinh doanh giỏi giai đoạn 2020 - 2025")[0] == "Nông dân sản xuất, kinh doanh giỏi"


def test_stray_ocr_quote_inside_a_name_is_mended():
    (a, b) = mv('các phong trào thi đua như: "Cả nước thi đua xây dựng xã hội học tập, đẩy mạnh" học tập suốt đời", '
                '"300\nngày chung tay xóa nhà tạm, nhà dột nát" cùng với')
    assert a.name == "Cả nước thi đua xây dựng xã hội học tập, đẩy mạnh học tập suốt đời"
    assert b.name == "300 ngày chung tay xóa nhà tạm, nhà dột nát"


def test_unclosed_quote_ends_at_sentence_end():
    (m,) = mv("Tổ chức thực hiện phong trào thi đua “Cả nước thi đua xây dựng xã hội học tập giai đoạn 2023 - 2030.\n\n1.2. Phát động")
    assert m.name.endswith("2023 - 2030") and m.period == "2023-2030"


def test_unquoted_known_movement_after_phong_trao():
    (m,) = mv("Phong trào thi đua thực hiện Chương trình mục tiêu quốc gia phát triển kinh tế - xã hội vùng đồng bào "
              "dân tộc thiểu số và miền núi; làm mới")
    assert m.canonical.startswith("Thực hiện Chương trình mục tiêu quốc gia")


def test_dedupe_by_canonical():
    ms = mv("phong trào “Doanh nghiệp Ninh Thuận hội nhập và phát triển”, phong trào “Doanh nghiệp Việt Nam hội nhập và phát triển”.")
    assert len(ms) == 1


def test_seed_counts(seeds_dir):
    counts = {s: len(mv(seed_text(s))) for s in ("000", "001", "002", "003", "004")}
    assert counts == {"000": 5, "001": 10, "002": 6, "003": 7, "004": 7}


def test_seed_004_ocr_context_words(seeds_dir):
    canon = {m.canonical for m in mv(seed_text("004"))}
    assert "Cả nước chung sức xây dựng nông thôn mới" in canon
    assert "Chung tay xóa nhà tạm, nhà dột nát trên phạm vi cả nước" in canon


def test_rule_tables_load_and_are_consistent():
    """The data files behind refs / movements / tasks parse, and no alias points at two canonicals."""
    from congvan.extractors import references, tasks
    from congvan.extractors.dates import _view_rules, load_json
    assert _view_rules() and references._types() and references._symbol_codes()
    assert tasks._heads_rx().pattern and tasks._verbs_exact_rx().pattern
    seen = {}
    for m in load_json("movement_aliases.json")["movements"]:
        for a in [m["canonical"], *m["aliases"]]:
            assert seen.setdefault(a, m["canonical"]) == m["canonical"], a
        assert canonical_of(m["canonical"])[0] == m["canonical"]


def test_ocr_flipped_quotes_and_noi_nhan_noise():
    ms = mv('các phong trào thi đua như: “Chung sức xây dựng nông thôn mới”, ”Vì người nghèo - Không để ai bị bỏ lại '
            'phía sau”, :\n\n"Chuyển đổi số" cùng với.\n\nNơi nhận:\n- Ban Thi đua, "Sở Nội vụ:\n- Lưu: VT.')
    assert [m.canonical for m in ms] == ["Cả nước chung sức xây dựng nông thôn mới",
                                         "Vì người nghèo - Không để ai bị bỏ lại phía sau", "Chuyển đổi số"]


# ---------------------------------------------------------------- unquoted names (data/movement_unquoted.json)
def test_unquoted_capitalised_name_after_cuoc_van_dong_and_phong_trao():
    ms = mv("Tiếp tục đẩy mạnh Cuộc vận động Người Việt Nam ưu tiên dùng hàng Việt Nam, phong trào Toàn dân bảo vệ "
            "an ninh Tổ quốc trên địa bàn huyện.")
    assert [(m.name, m.prov.method) for m in ms] == [
        ("Người Việt Nam ưu tiên dùng hàng Việt Nam", "rule:unquoted_capital"),
        ("Toàn dân bảo vệ an ninh Tổ quốc", "rule:unquoted_capital")]
    assert ms[0].prov.start is not None and 0 < ms[0].prov.confidence < 1


def test_unquoted_name_keeps_comma_inside_and_stops_before_a_verb():
    (m,) = mv("Cuộc vận động Toàn dân đoàn kết xây dựng nông thôn mới, đô thị văn minh được các xã hưởng ứng.")
    assert m.name == "Toàn dân đoàn kết xây dựng nông thôn mới, đô thị văn minh"
    assert m.canonical == "Toàn dân đoàn kết xây dựng nông thôn mới, đô thị văn minh"


def test_unquoted_name_opening_like_a_name_keeps_thi_dua_and_ends_at_the_next_movement():
    ms = mv("Trong đó, đẩy mạnh phong trào thi đua đặc biệt lập thành tích chào mừng kỷ niệm 50 năm Ngày giải phóng "
            "tỉnh, 30 năm tái lập huyện Mường Khương, phong trào thi đua “Xanh hóa công sở” và các phong trào khác.")
    assert [m.name for m in ms] == ["thi đua đặc biệt lập thành tích chào mừng kỷ niệm 50 năm Ngày giải phóng tỉnh, "
                                    "30 năm tái lập huyện Mường Khương", "Xanh hóa công sở"]
    assert ms[0].canonical.startswith("Thi đua đặc biệt lập thành tích")


def test_unquoted_lower_case_name_needs_its_period_or_launcher():
    (m,) = mv("Hưởng ứng phong trào thi đua xanh hóa trụ sở làm việc giai đoạn 2024 - 2026 do Sở Nội vụ phát động.")
    assert (m.name, m.period, m.launched_by, m.prov.method) == (
        "thi đua xanh hóa trụ sở làm việc", "2024-2026", "Sở Nội vụ", "rule:unquoted_marked")
    assert mv("Hưởng ứng phong trào thi đua xanh hóa trụ sở làm việc trong các cơ quan.") == []


def test_capitalised_name_with_period_and_launcher():
    (m,) = mv("Hưởng ứng phong trào thi đua Dân vận khéo giai đoạn 2021-2025 do Ban Dân vận Tỉnh ủy phát động.")
    assert (m.canonical, m.period, m.launched_by) == ("Dân vận khéo", "2021-2025", "Ban Dân vận Tỉnh ủy")


def test_generic_mentions_are_not_movements():
    """Near-misses: every one names a kind of emulation, not one movement."""
    for text in [
        "Phát động phong trào thi đua yêu nước năm 2024 trong toàn tỉnh.",
        "Triển khai phong trào thi đua thường xuyên năm 2024 và phong trào thi đua chuyên đề; các phong trào "
        "thi đua do Trung ương phát động.",
        "Tổ chức phát động các phong trào chung tay khắc phục hậu quả thiên tai, ổn định cuộc sống Nhân dân, "
        "khôi phục sản xuất.",
        "Chỉ thị về phát động phong trào thi đua thực hiện nhiệm vụ phát triển kinh tế - xã hội năm 2024.",
        "II. PHONG TRÀO THI ĐUA YÊU NƯỚC TRONG CÁC CƠ QUAN\n\nNội dung.",
        "Phát động phong trào thi đua trên địa bàn tỉnh Quảng Trị. Các phong trào thi đua của Tỉnh được duy trì.",
        "Tổ chức Hội nghị tổng kết phong trào thi đua đặc biệt, tổng kết công tác thi đua năm 2024.",
        "UBND tỉnh phát động phong trào thi đua năm 2024 với tinh thần: “Kỷ cương trách nhiệm; chủ động kịp thời”.",
        "Phong trào thi đua Sở Nội vụ phát động được các đơn vị hưởng ứng.",
    ]:
        assert mv(text) == [], text


def test_a_shorter_unquoted_mention_merges_into_the_full_name():
    ms = mv("Đẩy mạnh phong trào thi đua đặc biệt lập thành tích chào mừng kỷ niệm 50 năm Ngày giải phóng tỉnh, "
            "30 năm tái lập huyện, phong trào thi đua “Xanh hóa công sở”.\n\n3\tHướng dẫn tổng kết Phong trào thi đua "
            "đặc biệt lập thành tích chào mừng kỷ niệm 50 năm Ngày giải phóng tỉnh; 30 năm\tSở Nội vụ\n")
    assert len(ms) == 2


def test_capitalised_name_ends_at_a_comma_before_an_action_word():
    (m,) = mv("Tiếp tục triển khai cuộc vận động Tết vì người nghèo, hỗ trợ xây dựng nhà đại đoàn kết cho hộ nghèo.")
    assert m.name == "Tết vì người nghèo"


def test_quoted_theme_after_chu_de_thi_dua_is_not_a_movement():
    assert mv('Đẩy mạnh phong trào thi đua yêu nước, thực hiện tốt chủ đề thi đua năm 2025 "Siết chặt kỷ cương, '
              'tăng tốc bứt phá" của tỉnh.') == []
