"""Post-correction's caches and shortcuts (pipeline/postcorrect.py) change its speed, never its output."""
from __future__ import annotations

import random

from congvan.pipeline import postcorrect as pc

PAGE = (
    "Thực hiện kế hoạch nãm 2024 của Ủy ban nhân dân tỉnh, các cơ quan, đơn vị. địa phương\n"
    "tổ chức phong trào thi đua, khen thưởng tập thế, cá nhân có thành tích xuất sắc trong công tác\n"
    "chuyến đối số và cải cách hành chính; báo cáo kết quả về Sở Nội vụ trước ngày 15/12/2024.\n"
)


def _plain_edit_cost(a: str, b: str) -> float:
    """The textbook recurrence with min(), as `edit_cost` was first written."""
    x, y = pc._pieces(a), pc._pieces(b)
    prev = [0.0]
    for ch in y:
        prev.append(prev[-1] + pc._indel_cost(ch))
    for ca in x:
        cur = [prev[0] + pc._indel_cost(ca)]
        for j, cb in enumerate(y, 1):
            cur.append(min(prev[j] + pc._indel_cost(ca), cur[j - 1] + pc._indel_cost(cb),
                           prev[j - 1] + pc._sub_cost(ca, cb)))
        prev = cur
    return prev[-1]


def test_edit_cost_is_the_plain_recurrence_to_the_last_bit():
    rng = random.Random(7)
    words = sorted(pc._lm().uni)
    groups = [g for g in pc._lm().by_skeleton.values() if len(g) > 1]
    pairs = [(rng.choice(words), rng.choice(words)) for _ in range(3000)]
    pairs += [tuple(rng.sample(rng.choice(groups), 2)) for _ in range(3000)]  # diacritics only
    pairs += [("", "thể"), ("thể", ""), ("", ""), ("rnột", "một"), ("Đổi", "doi"), ("ĐỔI", "đổi")]
    for a, b in pairs:
        assert pc.edit_cost.__wrapped__(a, b) == _plain_edit_cost(a, b), (a, b)


def _clear_all_caches() -> None:
    for v in vars(pc).values():
        if hasattr(v, "cache_clear") and v is not pc._shipped_counts:
            v.cache_clear()


def _result(text: str) -> tuple:
    r = pc.postcorrect(text)
    return r.text, [(c.start, c.end, c.before, c.after, c.rule, c.score) for c in r.changes]


def test_hold_out_leaves_no_stale_cache():
    """Every cache that depends on the model is dropped with it: a page corrected under a held-out
    model after the full model warmed the caches reads as if nothing were cached, and back."""
    held = "tập thể, cá nhân. chuyển đổi số. đơn vị, địa phương"
    try:
        full_warm = _result(PAGE)
        pc.hold_out(held)
        held_warm = _result(PAGE)
        assert held_warm != full_warm  # without "chuyển đổi" the model keeps "chuyến đối"
        _clear_all_caches()
        assert _result(PAGE) == held_warm
        pc.hold_out("")
        assert _result(PAGE) == full_warm
        _clear_all_caches()
        assert _result(PAGE) == full_warm
    finally:
        pc.hold_out("")


def _names(code) -> set[str]:
    out = set(code.co_names)
    for c in code.co_consts:
        if hasattr(c, "co_names"):
            out |= _names(c)  # nested functions and comprehensions
    return out


def test_every_cache_that_reads_the_model_is_cleared_by_hold_out():
    """A cached function that reaches `_lm` (directly or through any module function) is in
    `_LM_CACHES`, which `hold_out` clears; the shipped file's parse is the one model-free cache."""
    funcs = {n: getattr(v, "__wrapped__", v) for n, v in vars(pc).items()
             if callable(v) and getattr(getattr(v, "__wrapped__", v), "__module__", "") == pc.__name__
             and hasattr(getattr(v, "__wrapped__", v), "__code__")}
    calls = {n: _names(f.__code__) & set(funcs) for n, f in funcs.items()}
    reads = {"_lm"}
    while True:
        more = {n for n, c in calls.items() if c & reads} - reads
        if not more:
            break
        reads |= more
    cached = {n for n, v in vars(pc).items() if hasattr(v, "cache_clear") and n in funcs}
    assert cached & reads == {f.__name__ for f in pc._LM_CACHES}
    assert "_shipped_counts" not in reads


def test_hold_out_does_not_touch_the_shipped_counts():
    uni, bi = pc._shipped_counts()
    n_uni, n_bi, seen = len(uni), len(bi), bi.get(("thi", "đua"))
    try:
        pc.hold_out("thi đua thi đua")
        assert pc._lm().bi[("thi", "đua")][0] == max(0, seen[0] - 2)
    finally:
        pc.hold_out("")
    assert pc._shipped_counts() == (uni, bi) and (len(uni), len(bi)) == (n_uni, n_bi)
    assert bi.get(("thi", "đua")) == seen and pc._lm().uni is uni  # the full model shares them


def test_a_page_seen_again_is_served_from_the_caches():
    """The same words on the next page cost lookups, not candidate searches or look-alike scoring."""
    _result(PAGE)
    caches = (pc.candidates, pc._lookalike_cands, pc._lookalike_in, pc._seen_pairs, pc.edit_cost)
    misses = [c.cache_info().misses for c in caches]
    _result(PAGE)
    assert [c.cache_info().misses for c in caches] == misses


def test_structural_spans_block_exactly_the_tokens_they_overlap():
    """`_word_pass` skips a token when a structural change overlaps it (one starting before the
    token's end and ending after its start), found by bisection over the sorted spans."""
    text = "Thực hiện kế hoạch nãm 2024 của tỉnh."
    s = text.index("nãm")
    e = s + len("nãm")

    def fixed(blocked):
        return [c.after for c in pc._word_pass(text, None, blocked)]

    assert fixed([]) == ["năm"]
    assert fixed([(s, e)]) == []
    assert fixed([(s + 1, s + 1)]) == []  # an insertion inside the word
    assert fixed([(s, s)]) == ["năm"]  # an insertion before it
    assert fixed([(e, e)]) == ["năm"]  # ... or after it
    assert fixed([(0, s)]) == ["năm"]  # a change ending where it starts
    assert fixed([(0, s + 1), (1, 2)]) == []  # a long span reaching into it, a short one after
    assert fixed([(e + 3, e + 5), (1, 2), (0, 3)]) == ["năm"]  # unsorted, none reaching it
