"""Issuing bodies: abbreviations, shouted headers, relative names, the 2025 province merger."""
from __future__ import annotations

import duckdb
import pytest

from congvan.pipeline.bodies import body_fold, expand, province_2025, resolve
from congvan.pipeline.store import _SCHEMAS


@pytest.mark.parametrize("name", [
    "UBND tỉnh Ninh Thuận", "Ủy ban nhân dân tỉnh Ninh Thuận", "ỦY BAN NHÂN DÂN TỈNH NINH THUẬN",
    "Uỷ ban nhân dân tỉnh Ninh Thuận", "UBND  tỉnh\nNinh Thuận",
])
def test_spellings_of_one_body_share_a_key(name):
    body = resolve(name)
    assert body.key == resolve("Ủy ban nhân dân tỉnh Ninh Thuận").key
    assert (body.name, body.level, body.province) == ("Ủy ban nhân dân tỉnh Ninh Thuận", "tỉnh", "Ninh Thuận")


def test_the_2025_merger_from_underthesea():
    assert province_2025("Ninh Thuận") == "Khánh Hòa"
    assert province_2025("Thái Bình") == "Hưng Yên"
    assert province_2025("Điện Biên") == "Điện Biên"  # kept
    body = resolve("UBND tỉnh Hà Giang")
    assert body.province_2025 == "Tuyên Quang"
    assert ("ubnd tinh tuyen quang", "successor") in body.aliases
    assert ("uy ban nhan dan tinh tuyen quang", "successor") in body.aliases
    assert not any(rel == "successor" for _, rel in resolve("UBND tỉnh Điện Biên").aliases)


def test_district_body_finds_its_province():
    body = resolve("Ủy ban nhân dân huyện Phong Thổ")
    assert (body.level, body.district, body.province, body.province_2025) == ("huyện", "Phong Thổ", "Lai Châu",
                                                                             "Lai Châu")
    city = resolve("UBND thành phố Điện Biên Phủ")
    assert (city.level, city.province) == ("huyện", "Điện Biên")
    hcm = resolve("UBND thành phố Hồ Chí Minh")
    assert (hcm.level, hcm.province) == ("tỉnh", "Hồ Chí Minh")


def test_relative_names_take_the_issuers_province():
    a = resolve("Sở Nội vụ (Ban Thi đua, khen thưởng)", context_province="Điện Biên")
    b = resolve("SNV", context_province="Điện Biên")
    c = resolve("Sở Nội vụ", context_province="Thái Bình")
    assert a.key == b.key != c.key
    assert a.name == "Sở Nội vụ tỉnh Điện Biên" and c.province_2025 == "Hưng Yên"
    assert ("so noi vu", "name") not in a.aliases  # the bare name is every province's Sở Nội vụ
    assert resolve("HĐND tỉnh", context_province="Hà Tĩnh").name == "Hội đồng nhân dân tỉnh Hà Tĩnh"


def test_central_bodies_and_abbreviations():
    assert resolve("Bộ Chính trị").level == "trung ương"
    assert resolve("VPCP").name == "Văn phòng Chính phủ"
    assert expand("UBMTTQVN tỉnh") == "Ủy ban Mặt trận Tổ quốc Việt Nam tỉnh"
    assert expand("Sở TT&TT") == "Sở Thông tin và Truyền thông"
    assert resolve("") is None and resolve(None) is None


def test_sql_fold_matches_python_fold():
    names = ["Ủy ban nhân dân tỉnh Điện Biên", "UỶ BAN NHÂN DÂN TỈNH THÁI BÌNH", "Sở Lao động – Thương binh và Xã hội",
             "Hoà Bình, Ưu tiên; Đắk Lắk", "Sở TT&TT (Ban X)"]
    con = duckdb.connect()
    con.execute((_SCHEMAS / "schema.sql").read_text(encoding="utf-8"))
    con.execute((_SCHEMAS / "views.sql").read_text(encoding="utf-8"))
    for n in names:
        assert con.execute("SELECT congvan_fold(?)", [n]).fetchone()[0] == body_fold(n)
