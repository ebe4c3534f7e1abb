"""Small hand-made Records for the store, search and export tests (no extractors, no PDFs)."""
from __future__ import annotations

import hashlib

from congvan.schemas.record import Record


def sha(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def key_of(number: str, doc_type: str) -> str:
    """The key a citation of `number` carries (the same function the store keys documents by)."""
    from congvan.pipeline.store import document_key

    return document_key(make_record("key", number=number, doc_type=doc_type))


def make_record(seed: str = "a", **fields) -> Record:
    """A plausible dispatch; `seed` decides the sha256, `fields` override anything."""
    data = {
        "source": {"path": f"/archive/{seed}.pdf", "sha256": sha(seed), "pages": 2, "text_source": "text_layer"},
        "number": "1023/KH-UBND",
        "symbol": "KH-UBND",
        "doc_type": "KH",
        "issuer": {"name": "Ủy ban nhân dân tỉnh Điện Biên", "level": "tỉnh", "locality": "Điện Biên",
                   "parent": None},
        "place": "Điện Biên",
        "issued_date": "2024-01-10",
        "subject": "Công tác thi đua, khen thưởng năm 2024",
        "recipients": ["Các sở, ban, ngành tỉnh", "UBND các huyện, thị xã, thành phố"],
        "distribution": ["Như trên", "Lưu: VT"],
        "signer": {"name": "Lê Thành Đô", "title": "Chủ tịch", "authority": "TM.",
                   "on_behalf_of": "ỦY BAN NHÂN DÂN"},
        "references": [
            {"raw": "Chỉ thị số 34-CT/TW ngày 07/4/2014 của Bộ Chính trị", "doc_type": "CT",
             "number": "34-CT/TW", "key": "CT:34:TW", "date": "2014-04-07", "issuer": "Bộ Chính trị",
             "citation": "can_cu",
             "prov": {"page": 1, "start": 120, "end": 170, "method": "regex", "confidence": 0.95}},
        ],
        "movements": [
            {"name": "phong trào thi đua \"Cả nước chung tay vì người nghèo\"", "canonical": "vì người nghèo",
             "period": "2021-2025", "launched_by": None,
             "prov": {"page": 1, "start": 200, "end": 240, "method": "alias", "confidence": 0.8}},
        ],
        "tasks": [
            {"text": "Tổng hợp, báo cáo kết quả thi đua", "assignee": "Sở Nội vụ",
             "coordinators": ["Ban Thi đua - Khen thưởng"], "deadline": "2024-03-15", "item": "1",
             "prov": {"page": 2, "start": 300, "end": 350, "method": "rule", "confidence": 0.7}},
            {"text": "Tuyên truyền phong trào", "assignee": "Sở Thông tin và Truyền thông",
             "coordinators": [], "deadline": "2024-12", "item": "2", "prov": None},
        ],
        "text": "ỦY BAN NHÂN DÂN TỈNH ĐIỆN BIÊN\nSố: 1023/KH-UBND\nKẾ HOẠCH\nCông tác thi đua, khen thưởng "
                "năm 2024\nCăn cứ Chỉ thị số 34-CT/TW ngày 07/4/2014 của Bộ Chính trị...\n"
                "Sở Nội vụ tổng hợp, báo cáo kết quả thi đua trước ngày 15/3/2024.",
        "urgency": None,
        "secrecy": None,
        "pages": [
            {"number": 1, "text_source": "text_layer", "reason": "good text layer", "chars": 150, "start": 0},
            {"number": 2, "text_source": "ocr", "reason": "no text layer", "chars": 80,
             "ocr_confidence": 0.91, "start": 150},
        ],
        "provenance": {
            "number": {"page": 1, "start": 35, "end": 47, "method": "regex", "confidence": 0.99},
            "issuer.name": {"page": 1, "start": 0, "end": 30, "method": "header", "confidence": 0.9},
        },
        "pipeline_version": "test",
    }
    for k, v in fields.items():
        data[k] = v
    return Record.model_validate(data)
