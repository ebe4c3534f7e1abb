"""The extractors' fast paths must give exactly what the plain forms they replaced gave.

Each speed-up (memoised folds, str.translate tables, split/join instead of regex, a per-document
line table, guards before slow regexes, view rules written literal-first) is checked here against
the simple reference it replaced, on the sample texts, on every code point and on fuzzed strings.
"""
from __future__ import annotations

import random
import re
import sys
import unicodedata
from pathlib import Path

import pytest

from congvan.extractors import dates, signer, spans, tables, tasks

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
ALL_CHARS = "".join(chr(i) for i in range(sys.maxunicode + 1) if not 0xD800 <= i < 0xE000)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    out = [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.gt.txt"))]
    assert out, "samples/*.gt.txt missing"
    return out


def _pieces(texts: list[str]) -> list[str]:
    """Whole texts, their lines and every code point in chunks."""
    out = list(texts)
    for t in texts:
        out += t.split("\n")
    out += [ALL_CHARS[i:i + 64] for i in range(0, len(ALL_CHARS), 64)]
    return out + ["  Ð ð ,  x ; ) \u00a0. \u2003:", "İstanbul ΣΑΣ", ""]


# ---------------------------------------------------------------- folds and clean-ups
def _fold_upper_ref(s: str) -> str:
    s = unicodedata.normalize("NFD", s.upper().replace("Đ", "D").replace("đ", "D"))
    s = "".join(c for c in s if unicodedata.category(c) != "Mn")
    return re.sub(r"\s+", " ", s).strip()


def _fold_lower_ref(s: str) -> str:
    s = unicodedata.normalize("NFD", s.lower().replace("đ", "d").replace("Đ", "d"))
    s = "".join(c for c in s if unicodedata.category(c) != "Mn")
    return re.sub(r"\s+", " ", s).strip()


def _norm_ws_ref(s: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", s)).strip().translate(spans.ETH)


def _clean_ref(s: str) -> str:
    s = re.sub(r"\s+", " ", unicodedata.normalize("NFC", s)).strip().translate({0xD0: "Đ", 0xF0: "đ"})
    return re.sub(r"\s+([,;:.)])", r"\1", s)


def test_folds_and_clean_ups_equal_their_plain_forms(texts):
    for s in _pieces(texts):
        assert spans.fold(s) == _fold_upper_ref(s)
        assert dates.fold(s) == _fold_lower_ref(s)
        assert spans.norm_ws(s) == _norm_ws_ref(s)
        assert dates.clean(s) == _clean_ref(s)
        folded = dates.fold_same_length(s)
        assert folded == "".join(map(dates._fold_char, s)) and len(folded) == len(s)


def test_upper_ratio_equals_its_plain_form(texts):
    for s in _pieces(texts)[:2000]:
        letters = [c for c in s if c.isalpha()]
        ref = sum(c.isupper() for c in letters) / len(letters) if letters else 0.0
        assert spans.upper_ratio(s) == ref


# ---------------------------------------------------------------- signer
def test_body_prefix_set_equals_the_table_scan(texts):
    bodies = signer._folded_body_set()
    words = [w for t in texts for w in spans.fold(t).split()][:3000]
    cands = [" ".join(words[i:i + k]) for i in range(0, len(words), 7) for k in (1, 2, 3, 5)]
    cands += list(tables.folded_bodies()) + [p + " X" for p in tables.folded_bodies()] + ["", "SO", "SO "]
    for fb in cands:
        ref = any(fb == p or fb.startswith(p + " ") for p in tables.folded_bodies())
        assert signer._starts_with_body(fb, bodies) == ref


def test_case_title_memo_gives_the_computed_value():
    for s in ["PHÓ CHỦ TỊCH", "CHỦ TlCH", "GIÁM ĐỐC SỞ NỘI VỤ", "PHÓ TỔ TRƯỞNG THƯỜNG TRỰC", "NGUYỄN VĂN AN", ""]:
        assert signer.case_title(s) == signer.case_title.__wrapped__(s)


# ---------------------------------------------------------------- tasks: paragraph starts
def _paragraph_starts_ref(vt: str, lo: int, hi: int) -> list[int]:
    starts, prev_end_char = [], "."
    for m in re.finditer(r"[^\n]*", vt[lo:hi]):
        line = m.group(0)
        if not line.strip():
            continue
        s = lo + m.start()
        if prev_end_char in ".:;!?" or tasks._MARK.match(line):
            starts.append(s + len(line) - len(line.lstrip(" \t^")))
        prev_end_char = line.rstrip()[-1:] or prev_end_char
        letters = [c for c in line if c.isalpha()]
        if len(letters) >= 6 and sum(c.isupper() for c in letters) / len(letters) > 0.8:
            prev_end_char = "."
    return starts


def test_paragraph_starts_equal_the_line_by_line_scan(texts):
    rng = random.Random(7)
    for t in texts:
        vt = dates.make_view(t).text
        n = len(vt)
        bounds = [(0, n), (0, n + 5), (n, n), (5, 3)]
        bounds += [tuple(sorted((rng.randrange(n + 1), rng.randrange(n + 1)))) for _ in range(60)]
        bounds += [(vt.find("\n", k), n) for k in range(0, n, max(1, n // 10))]
        for lo, hi in bounds:
            lo = max(0, lo)
            assert list(tasks._paragraph_starts(vt, lo, hi)) == _paragraph_starts_ref(vt, lo, hi), (lo, hi)


# ---------------------------------------------------------------- dates: guards before the deadline searches
def test_deadline_guards_are_necessary(texts):
    """A deadline pattern never matches where its guard does not: skipping it changes nothing."""
    rx = dates._deadline_rx()
    rng = random.Random(3)
    alphabet = list("0123456789/.- \tngàyNGÀYthángTHÁNGnămtrướchạn:qúýIV,") + ["tháng ", "ngày ", "trước ", "2024", "19"]
    cases = [ln for t in texts for ln in t.split("\n")]
    cases += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(20000)]
    cases += ["trước ngày 15/3/2024", "chậm nhất ngày 5 tháng 4 năm 2024", "trước 30/6", "hoàn thành trong tháng 3",
              "Thời hạn: Tháng 6/2024", "xong trước năm 2025", "trước ngày 1 tháng 7"]
    for s in cases:
        for key, needs in dates._DEADLINE_NEEDS.items():
            if rx[key].search(s):
                assert all(dates._NEEDS[n].search(s) for n in needs), (key, s)
        if dates._BY_YEAR_END.search(s):
            assert dates._NEEDS["year"].search(s), s


# ---------------------------------------------------------------- the text view: literal-first rules
_VOWELS = "aăâeêioôơuưyáàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ"
# the rules as first written (lookbehind first), by their position in data/ref_text_view.json
_VIEW_RULES_AS_WRITTEN = {
    0: r"(?<=[^\W\d_])°|°(?=[^\W\d_])",
    1: r"(?<=[^\W\d_])¡|¡(?=[^\W\d_])",
    2: r"(?<=[^\W\d_])¯|¯(?=[^\W\d_])",
    3: r"(?:(?<=[\s(:;,])|^)<(?=[^\W_])",
    4: r"(?<=[^\s=<>])=(?=[\s,.;:)]|$)",
    7: r"(?<![^\W\d_])(?:t[íì]|[ứửừữ])i(?=[" + _VOWELS + "])",
    8: r"(?<![^\W\d_])t[íì](?=i(?![^\W\d_]))",
    9: r"(?<![^\W\d_])[ữừ](?=[" + _VOWELS + "])",
    13: r"(?<=[A-ZĐ])-[ \t]+-(?=[A-ZĐ])",
    14: r"(?<=\d-[A-ZĐ]{2}/[A-ZĐ])[ \t](?=[A-ZĐ](?![^\W\d_]))",
}


def test_literal_first_view_rules_match_as_first_written(texts):
    rules = dates._view_rules()
    rng = random.Random(11)
    alphabet = list("°¡¯<=«»tíìứửừữiaêôơưyTHI.- \t\n,;:()AĐZQ/1209ðÐxX_") + ["", "\n\n", "CT/T U"]
    cases = texts + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(30000)]
    for i, written in _VIEW_RULES_AS_WRITTEN.items():
        fast = rules[i][0]
        ref = re.compile(written)
        for s in cases:
            assert [(m.span(), m.groups()) for m in fast.finditer(s)] == \
                   [(m.span(), m.groups()) for m in ref.finditer(s)], (i, s)
