"""The evaluator on tiny gold dicts and plain extraction functions (no PDFs, no OCR)."""
import json
from pathlib import Path

import pytest

from congvan.pipeline.document import Document
from congvan.pipeline.evaluate import (Counts, evaluate, format_report, match_sets, norm, pairs, scope_gold,
                                       score_record, score_scalar)
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


# ---------------------------------------------------------------- a file holding part of its document

PAGE1 = ("ỦY BAN NHÂN DÂN\nXÃ AN PHÚ\nSố: 12/UBND-VP\nAn Phú, ngày 05 tháng 6 năm 2024\n"
         "V/v tổ chức Ngày hội toàn dân\nKính gửi: Các thôn, bản.\nThực hiện Công văn số 88/UBND-VX của UBND huyện,\n"
         "1. Các thôn, bản tổ chức Ngày hội trước ngày 30/6/2024.\n")
PAGE2 = ("2. Công an xã bảo đảm an ninh trật tự.\n\nNơi nhận:\n- Như trên;\n- Đảng ủy xã;\n- Lưu: VT.\n\n"
         "TM. ỦY BAN NHÂN DÂN\nCHỦ TỊCH\n\nNông Văn Tám\n")
PARTIAL_GOLD = {
    "symbol": "UBND-VP", "recipients": ["Các thôn, bản"], "distribution": ["Như trên", "Đảng ủy xã", "Lưu: VT"],
    "signer": {"name": "Nông Văn Tám", "title": "Chủ tịch", "authority": "TM.", "on_behalf_of": "Ủy ban nhân dân"},
    "references": [{"raw": "Công văn số 88/UBND-VX của UBND huyện", "key": "CV:88:UBND-VX"}],
    "tasks": [{"text": "Các thôn, bản tổ chức Ngày hội trước ngày 30/6/2024.", "assignee": "Các thôn, bản"},
              {"text": "Công an xã bảo đảm an ninh trật tự.", "assignee": "Công an xã"}],
}


def test_scope_gold_keeps_only_what_the_text_holds():
    scoped, dropped = scope_gold(PARTIAL_GOLD, PAGE1)
    assert "signer" not in scoped and scoped["distribution"] == []
    assert [t["assignee"] for t in scoped["tasks"]] == ["Các thôn, bản"]
    assert scoped["references"] == PARTIAL_GOLD["references"] and scoped["recipients"] == ["Các thôn, bản"]
    assert dropped == ["signer.*", "distribution: 3 of 3", "tasks: 1 of 2"]
    full, none = scope_gold(PARTIAL_GOLD, PAGE1 + PAGE2)
    assert full == PARTIAL_GOLD and none == []


def test_partial_file_is_scored_on_its_own_pages_and_full_files_on_everything(tmp_path: Path):
    gold, samples = tmp_path / "gold", tmp_path / "samples"
    gold.mkdir()
    samples.mkdir()
    (gold / "910.json").write_text(json.dumps(PARTIAL_GOLD, ensure_ascii=False), encoding="utf-8")
    texts = {"910-text.pdf": PAGE1 + PAGE2, "910-scan-p1.png": PAGE1}
    for name, text in texts.items():
        (samples / name).write_bytes(b"")
        (samples / (name.rsplit(".", 1)[0] + ".gt.txt")).write_text(text, encoding="utf-8")
    report = evaluate(gold, samples, None, lambda p: build_record(Document.from_text(texts[p.name], path=str(p))))
    image = next(d for d in report.docs if d.variant == "image")
    assert "signer.name" not in image.counts and image.counts["distribution"] == Counts()
    assert image.unscored == ["signer.*", "distribution: 3 of 3", "tasks: 1 of 2"]
    text = next(d for d in report.docs if d.variant == "text")
    assert text.unscored == [] and text.counts["signer.name"] == Counts(tp=1)
    assert text.counts["distribution"].tp == 3
    out = format_report(report)
    assert "partial file 910-scan-p1.png" in out
    assert report.to_dict()["documents"][0]["unscored"] is not None


def test_list_misses_name_the_unmatched_items():
    counts, misses = score_record({"distribution": ["Như trên", "Sở Y tế", "Ban rung g"]},
                                  {"distribution": ["Như trên", "Sở Y tế", "Ban TĐKT Trung ương"]})
    assert counts["distribution"] == Counts(tp=2, fp=1, fn=1)
    assert misses == ["distribution: tp=2 fp=1 fn=1; extra ['ban rung g']; missing ['ban tđkt trung ương']"]


def test_details_follow_the_environment_when_not_asked(corpus, monkeypatch):
    gold, samples, rw, extract = corpus
    report = evaluate(gold, samples, rw, extract)
    monkeypatch.delenv("CONGVAN_EVAL_DETAILS", raising=False)
    assert "[harsh] number" not in format_report(report)
    monkeypatch.setenv("CONGVAN_EVAL_DETAILS", "1")
    assert "[harsh] number" in format_report(report)
    assert "[harsh] number" not in format_report(report, details=False)
