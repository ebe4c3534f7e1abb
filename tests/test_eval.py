"""The evaluator on tiny gold dicts and plain extraction functions (no PDFs, no OCR)."""
import json
from pathlib import Path

import pytest

from congvan.pipeline.document import Document
from congvan.pipeline.evaluate import (Counts, evaluate, format_report, match_sets, norm, pairs, score_record,
                                       score_scalar)
from congvan.pipeline.run import build_record

TEXT = ("ỦY BAN NHÂN DÂN\nTỈNH ĐIỆN BIÊN\nSố: 1023/KH-UBND\nĐiện Biên, ngày 10 tháng 01 năm 2024\n"
        "KẾ HOẠCH\nCông tác thi đua, khen thưởng năm 2024\nCăn cứ Luật;\n")


# ---------------------------------------------------------------- scalar rule

def test_scalar_counts():
    assert score_scalar("KH", "KH", False) == Counts(tp=1)
    assert score_scalar("CV", "KH", False) == Counts(fp=1, fn=1)  # wrong: both
    assert score_scalar(None, "KH", False) == Counts(fn=1)
    assert score_scalar("KH", None, False) == Counts(fp=1)  # gold says unknown
    assert score_scalar(None, None, False) == Counts()
    assert score_scalar("", None, False) == Counts()  # "" is unknown too


def test_scalar_normalisation_and_fuzzy():
    assert norm(" Ủy  ban\tnhân dân ") == "ủy ban nhân dân"
    assert norm("Ủy ban") == norm("U\u0309y ban".replace("U\u0309", "Ủ"))
    assert score_scalar("LÊ THÀNH ĐÔ", "Lê Thành Đô", False).tp == 1  # case-insensitive
    long = "Công tác thi đua, khen thưởng năm 2024 trên địa bàn tỉnh"
    assert score_scalar(long.replace(",", ""), long, True).tp == 1  # ratio ≥ 90
    assert score_scalar(long.replace(",", ""), long, False).tp == 0


# ---------------------------------------------------------------- list rule

def test_set_matching_is_one_to_one():
    c = match_sets(["như trên", "như trên", "sở nội vụ"], ["như trên", "lưu: vt"], lambda a, b: a == b)
    assert (c.tp, c.fp, c.fn) == (1, 1, 1)


def test_list_fields_and_tasks_with_deadline():
    pred = {"recipients": ["Sở Nội vụ;", "UBND các huyện"], "references": [{"key": "59/TB-VPCP"}],
            "tasks": [{"assignee": "Sở Nội vụ", "deadline": "2024-03-15"}, {"assignee": "Sở Tài chính", "deadline": None}],
            "movements": [{"canonical": "Vì người nghèo"}]}
    gold = {"recipients": ["Sở Nội vụ", "UBND các huyện, thị xã"], "references": [{"key": "59/TB-VPCP"}, {"key": "1/QĐ-TTg"}],
            "tasks": [{"assignee": "Sở Nội vụ", "deadline": "2024-03"}, {"assignee": "Sở Tài chính", "deadline": None}],
            "movements": []}
    counts, misses = score_record(pred, gold)
    assert (counts["recipients"].tp, counts["recipients"].fp, counts["recipients"].fn) == (1, 1, 1)
    assert (counts["references"].tp, counts["references"].fn) == (1, 1)
    assert counts["tasks"].tp == 2
    assert (counts["tasks+deadline"].tp, counts["tasks+deadline"].fp) == (1, 1)
    assert counts["movements"].fp == 1
    assert misses


def test_fields_missing_from_gold_are_not_scored():
    counts, _ = score_record({"number": "1/UBND", "issuer": {"name": "X"}}, {"symbol": None})
    assert set(counts) == {"symbol"}


# ---------------------------------------------------------------- files and report

@pytest.fixture
def corpus(tmp_path: Path):
    gold, samples, rw = tmp_path / "gold", tmp_path / "samples", tmp_path / "rw"
    (gold / "realworld").mkdir(parents=True)
    samples.mkdir()
    rw.mkdir()
    (gold / "900.json").write_text(json.dumps({
        "number": "1023/KH-UBND", "symbol": "KH-UBND", "doc_type": "KH", "issued_date": "2024-01-10",
        "place": "Điện Biên", "subject": "Công tác thi đua, khen thưởng năm 2024",
        "issuer": {"name": "Ủy ban nhân dân tỉnh Điện Biên", "level": "tỉnh", "locality": "Điện Biên", "parent": None},
        "recipients": [], "urgency": None}, ensure_ascii=False), encoding="utf-8")
    (gold / "realworld" / "kh.json").write_text(json.dumps({"number": "1023/KH-UBND", "doc_type": "QĐ"}), encoding="utf-8")
    texts = {"900-text.pdf": TEXT, "900-scan.pdf": TEXT.replace("Số: 1023", "Số: "), "900-scan-p1.png": TEXT}
    for name in texts:
        (samples / name).write_bytes(b"")
    (samples / "900-text.gt.txt").write_text("not a sample")
    (samples / "901-text.pdf").write_bytes(b"")  # no gold: not scored
    (rw / "kh.pdf").write_bytes(b"")
    texts["kh.pdf"] = TEXT
    texts["900-harsh.pdf"] = None
    (samples / "900-harsh.pdf").write_bytes(b"")

    def extract(path: Path):
        text = texts[path.name]
        if text is None:
            raise RuntimeError("OCR failed")
        return build_record(Document.from_text(text, path=str(path)))

    return gold, samples, rw, extract


def test_pairs_and_variants(corpus):
    gold, samples, rw, _ = corpus
    got = sorted((p.name, v) for p, v, _ in pairs(gold, samples, rw))
    assert got == [("900-harsh.pdf", "harsh"), ("900-scan-p1.png", "image"), ("900-scan.pdf", "scan"),
                   ("900-text.pdf", "text"), ("kh.pdf", "realworld")]
    assert all(v != "realworld" for _, v, _ in pairs(gold, samples, None))


def test_evaluate_end_to_end(corpus):
    gold, samples, rw, extract = corpus
    report = evaluate(gold, samples, rw, extract)
    assert report.variants == ["text", "scan", "harsh", "image", "realworld"]
    assert report.counts("number", "text") == Counts(tp=1)
    assert report.counts("number", "scan") == Counts(fn=1)  # blank number predicted null
    assert report.counts("number", "harsh") == Counts(fn=1)  # failed file: an empty record
    assert report.counts("doc_type", "realworld") == Counts(fp=1, fn=1)
    assert report.counts("issued_date").tp == 3
    assert report.macro_f1("text") == 1.0
    assert report.errors == [(str(samples / "900-harsh.pdf"), "RuntimeError: OCR failed")]
    out = format_report(report, details=True)
    assert "macro F1" in out and "number" in out and "realworld" in out and "OCR failed" in out
    d = report.to_dict()
    assert d["fields"]["number"]["text"]["f1"] == 1.0
    json.dumps(d)


def test_report_splits_precision_recall_f1_per_variant(corpus):
    gold, samples, rw, extract = corpus
    report = evaluate(gold, samples, rw, extract)
    out = format_report(report)
    assert "Per variant: P / R / F1" in out
    row = next(line for line in out.splitlines() if line.startswith("│ number") and "n=" in line)
    cells = [c.strip() for c in row.strip("│").split("│")][1:]
    assert cells[0] == "100/100/100 n=1"  # text: right
    assert cells[1] == "—/0/0 n=1"  # scan: a miss, no prediction
