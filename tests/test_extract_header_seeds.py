"""The header extractor on the five seed texts, with values read from the seeds by eye."""
import pytest

from congvan.extractors import extract_fields
from congvan.pipeline.document import Document
from congvan.schemas.record import Record, Source

from conftest import seed_text


def fields(prefix: str) -> dict:
    return extract_fields(Document.from_text(seed_text(prefix)))


def test_seed_000_starts_mid_header(seeds_dir):
    f = fields("000")
    assert f["number"] is None and f["symbol"] is None  # the "Số:" line is not in the text
    assert f["doc_type"] == "CV"
    assert f["subject"].startswith("triển khai thực hiện nhiệm vụ công tác thi đua")
    assert f["subject"].endswith("Văn bản số 59/TB-VPCP ngày 20/02/2024")
    assert f["issued_date"] is None and f["place"] is None
    assert f["recipients"] == ["Các sở, ban, ngành, đoàn thể tỉnh", "UBND các huyện, thị xã, thành phố"]
    assert f["distribution"][2:5] == ["CT, các PCT UBND tỉnh", "Sở Nội vụ", "CVP UBND tỉnh"]
    assert f["signer"].name is None


def test_seed_001_ke_hoach(seeds_dir):
    f = fields("001")
    assert (f["number"], f["symbol"], f["doc_type"]) == ("1023/KH-UBND", "KH-UBND", "KH")
    assert (f["place"], f["issued_date"]) == ("Điện Biên", "2024-01-10")
    assert f["subject"] == "Công tác thi đua, khen thưởng năm 2024"
    assert f["issuer"].name == "Ủy ban nhân dân tỉnh Điện Biên"  # inferred: no issuer lines in the seed
    assert f["provenance"]["issuer.name"].confidence <= 0.5
    s = f["signer"]
    assert (s.authority, s.on_behalf_of, s.title, s.name) == ("TM.", "Ủy ban nhân dân", "Chủ tịch", "Lê Thành Đô")
    assert f["recipients"] == []
    assert f["distribution"][0] == "Hội đồng TĐKT Trung ương"
    assert f["distribution"][-1] == "Lưu: VT, KSTT"


def test_seed_002_huyen(seeds_dir):
    f = fields("002")
    assert (f["number"], f["symbol"], f["doc_type"]) == (None, "UBND-NV", "CV")
    assert (f["place"], f["issued_date"]) == ("Phong Thổ", "2024-03")
    i = f["issuer"]
    assert (i.name, i.level, i.locality) == ("Ủy ban nhân dân huyện Phong Thổ", "huyện", "Phong Thổ")
    assert f["subject"] == ("triển khai thực hiện Kết luận của Thủ tướng Chính phủ tại phiên họp của "
                            "Hội đồng Thi đua - Khen thưởng Trung ương")
    assert f["recipients"] == ["Các cơ quan, ban, ngành, đoàn thể huyện",
                               "Các cơ quan ngành dọc thuộc khối thi đua huyện", "Ủy ban Nhân dân các xã, thị trấn"]
    assert f["distribution"] == ["Như trên", "TT. Huyện ủy", "TT. HĐND huyện", "Lãnh đạo UBND huyện", "Lưu: VT, NV"]
    s = f["signer"]
    assert (s.authority, s.title, s.name) == ("TM.", "Chủ tịch", "Trần Bảo Trung")


def test_seed_003_blank_number_and_day(seeds_dir):
    f = fields("003")
    assert (f["number"], f["symbol"], f["doc_type"]) == (None, "UBND-VXNV", "CV")
    assert (f["place"], f["issued_date"]) == ("Ninh Thuận", "2024-08")
    i = f["issuer"]
    assert (i.name, i.level, i.locality) == ("Ủy ban nhân dân tỉnh Ninh Thuận", "tỉnh", "Ninh Thuận")
    assert f["subject"].endswith("Hội đồng Thi đua - Khen thưởng Trung ương ngày 12/7/2024")
    assert len(f["recipients"]) == 6 and f["recipients"][2] == "Các đơn vị sự nghiệp trực thuộc UBND tỉnh"
    assert f["distribution"][-1] == "Lưu: VT, VXNV. PD"
    s = f["signer"]
    assert (s.authority, s.title, s.name) == (None, "Chủ tịch", "Trần Quốc Nam")


def test_seed_004_noisy_ocr(seeds_dir):
    f = fields("004")
    assert (f["number"], f["symbol"], f["doc_type"]) == (None, "UBND-NCKS", "CV")
    # "ngày (ữtháng 12": the day is unreadable, so the date is known to the month only
    assert (f["place"], f["issued_date"]) == ("Thái Bình", "2024-12")
    assert f["subject"].startswith("đẩy mạnh phong trào thi đua yêu nước chào mừng Đại hội đảng bộ")
    assert f["recipients"][0] == "Các sở, ban, ngành, đoàn thể tỉnh"
    assert f["distribution"][-1] == "Lưu: VT, NCKS"
    s = f["signer"]
    assert (s.authority, s.name) == ("KT.", "Lại Văn Hoàn")
    assert s.title is None  # "KT. CHU": truncated, not guessed


@pytest.mark.parametrize("prefix", ["000", "001", "002", "003", "004"])
def test_seed_builds_a_valid_record_with_traceable_values(seeds_dir, prefix):
    text = seed_text(prefix)
    doc = Document.from_text(text)
    f = extract_fields(doc)
    rec = Record(source=Source(path="x", sha256="", pages=1, text_source="text_layer"), text=doc.text, **f)
    for key, p in rec.provenance.items():
        assert 0 <= p.start < p.end <= len(text), key
        assert 0.0 < p.confidence <= 1.0
    for key in ("number", "symbol", "place"):
        value = getattr(rec, key)
        if value is not None and rec.provenance[key].method.startswith("regex"):
            assert value.split("/")[-1] in text[rec.provenance[key].start:rec.provenance[key].end] or key == "place"
