"""Deadlines (extractors/dates.py parse_deadline / parse_deadline_cell): one test per rule, invented phrases."""
import pytest

from congvan.extractors.dates import parse_deadline, parse_deadline_cell


@pytest.mark.parametrize("text,expected", [
    ("báo cáo UBND tỉnh trước ngày 15/3/2024", "2024-03-15"),
    ("hoàn thành chậm nhất là ngày 23 tháng 01 năm 2026", "2026-01-23"),
    ("Tổng hợp kết quả, báo cáo UBND tỉnh trước ngày 15/5.", "2024-05-15"),    # no year: the document's
    ("gửi về Sở Nội vụ trước 30/6 để tổng hợp", "2024-06-30"),                  # no "ngày"
    ("gửi báo cáo trước ngày 15/12 hằng năm", "recurring"),                     # a yearly date is a schedule
    ("hoàn thành trong tháng 3", "2024-03"),
    ("hoàn thành trong Quý II/2024", "2024-Q2"),
    ("Thời gian thực hiện: năm 2025", "2025"),
    ("Thời hạn hoàn thành: trong năm 2024", "2024"),
    ("Định kỳ hằng quý báo cáo kết quả", "recurring"),
])
def test_parse_deadline(text, expected):
    assert parse_deadline(text, 2024) == expected


@pytest.mark.parametrize("text", [
    "thực hiện theo Nghị định 30/2020/NĐ-CP trước khi ban hành",   # a document number, not a day/month
    "Thời gian thực hiện: năm 2024 - 2025",                        # a span in prose: the cell reader decides
    "phong trào thi đua thường xuyên năm 2024",
    "theo Thông tư 15/2023 hướng dẫn",
])
def test_parse_deadline_near_misses(text):
    assert parse_deadline(text, 2024) is None


@pytest.mark.parametrize("cell,expected", [
    ("Tháng 6/2024", "2024-06"),
    ("tháng 9 năm 2024", "2024-09"),
    ("Năm 2024", "2024"),
    ("2024 - 2025", "2025"),
    ("Từ 01/7/2024 đến 30/9/2024", "2024-09-30"),
    ("30/6/2024", "2024-06-30"),
    ("Quý III", "2024-Q3"),
    ("Thường xuyên", "recurring"),
    ("Theo tiến độ dự án", None),
])
def test_parse_deadline_cell(cell, expected):
    assert parse_deadline_cell(cell, 2024) == expected
