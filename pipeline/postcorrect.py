"""OCR post-correction for Vietnamese: fix what tesseract gets wrong without touching what it got right.

A noisy channel, kept deliberately conservative because a "correction" of a correct word is worse than
a missed fix (it silently changes a legal text):

- **Which tokens.** Vietnamese writes one syllable per token from a closed inventory
  (`quality.is_syllable`), so a token that is not a syllable, or a well-formed one that no dictionary
  or dispatch knows ("nãm", "cợ"), is wrong and goes to its best candidate (capitalised ones only by
  a known confusion or a diacritic: "Đạ Huoai", "Cư Jút" are real names). A known syllable is
  replaced only when the language model prefers a look-alike by a wide margin and the word forms no
  known pair with its neighbours ("tập thế," → "tập thể,"), or only a dictionary pair the dispatches
  never use while the look-alike forms one they use ("đoàn thế và" → "đoàn thể và"). The margin is
  5 nats on clean text and drops on pages whose share of non-words, or of known words a look-alike
  fits much better (`page_slips`: a blurred scan's tone slips), shows the OCR struggling, and for
  words tesseract doubted (< 0.6). There is no "tesseract was sure" veto: harsh scans get 0.9+ on
  half their tone slips. Capitalised words beside capitalised words are names: they change only
  into a pair the corpus has seen ("Lâm Đông" → "Lâm Đồng", never "Trương" → "Trường").
- **Candidates** come from character-level confusion patterns (`data/postcorrect_confusions.tsv`,
  "ứi"→"th", "rn"→"m", …), from syllables with the same letters but other diacritics (lost or wrong
  tone/hook/circumflex; hỏi↔sắc cheapest), and from a fuzzy match one letter away; each carries a
  channel cost. Spelling conventions (tỏa/toả) are never "corrections".
- **Scoring**: interpolated syllable bigram model (`data/postcorrect_lm.tsv`, built by
  `data/build_postcorrect.py` from public administrative PDFs, the project's name tables and the
  underthesea/pyvi word lists; numbers are a `<num>` token, so "nãm 2022" → "năm 2022") − channel cost.
- **Structure**: numbers, symbols and dates have shapes a language model cannot judge, so they get
  their own repairs: "6794BND-TH" → "679/UBND-TH" (the code after the slash must be a known code from
  `extractors/data`), "29:02/2074" in a 2024 letter → "29/02/2024" (only future outliers, never old
  dates), "SỐ:^/UBND" → "Số: /UBND" (the blank for a hand-written number kept), specks (^ ~ ¬ „)
  dropped, a table rule read as "|" turned into a tab; punctuation standing alone ("tổng .",
  "tỉnh : :") dropped, a period inside a word the corpus never splits removed ("thi. đua"), else
  made a comma ("đơn vị. địa phương"); "lần thứ VIH" → "VIII"; a list letter that breaks a) b) c) d)
  đ) where one stroke fixes it; the "Nơi nhận" list put back in its fixed shape (bullets, ";" item
  ends, "- Lưu: VT, NCKS.").

Every change is reported with its span in the input, the rule and a score, so callers can keep the
original beside the repaired text and audit the corrector.
"""
from __future__ import annotations

import bisect
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Optional

from congvan.pipeline.quality import is_syllable, old_tone_style, split_tone, tone_key, uses_old_tone_style

# --------------------------------------------------------------------------- result types


@dataclass
class Change:
    start: int  # span in the input text
    end: int
    before: str
    after: str
    rule: str
    score: float


@dataclass
class Corrected:
    text: str
    changes: list[Change] = field(default_factory=list)


# --------------------------------------------------------------------------- data
_TONES = "\u0300\u0301\u0303\u0309\u0323"
_MARKS = _TONES + "\u0302\u0306\u031b"  # tones + circumflex, breve, horn


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


@lru_cache(maxsize=100_000)
def skeleton(s: str) -> str:
    """Letters without any diacritic, lower case: "Thường" → "thuong" (đ → d). Cached: a page asks
    for the same few thousand words' skeletons tens of thousands of times."""
    base = "".join(c for c in unicodedata.normalize("NFD", s.lower()) if c not in _MARKS)
    return base.replace("đ", "d")


def _read(package: str, name: str) -> str:
    return resources.files(package).joinpath("data", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Rule:
    wrong: str
    right: str
    where: str  # start | any | end
    cost: float
    example: str


@lru_cache(maxsize=1)
def confusion_rules() -> tuple[Rule, ...]:
    rules = []
    for line in _read("congvan.pipeline", "postcorrect_confusions.tsv").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        # Matched against lower-cased tokens (case is restored afterwards).
        rules.append(Rule(_nfc(cols[0]).lower(), _nfc(cols[1]).lower(), cols[2], float(cols[3]), _nfc(cols[4]) if len(cols) > 4 else ""))
    return tuple(rules)


@dataclass
class _LM:
    uni: dict[str, tuple[int, int]]
    bi: dict[tuple[str, str], tuple[int, int]]
    by_skeleton: dict[str, list[str]]
    skeletons: list[str]


NUM = "<num>"  # numbers are context only (never corrected here), as in the LM
_TOKEN_LM = re.compile(r"[^\W\d_]+|\d+")


def count_ngrams(text: str) -> tuple[Counter, Counter]:
    """Syllable and adjacent-syllable counts of `text` as the LM counts them: lower case, numbers as
    `<num>`, pairs only inside a stretch without punctuation, non-syllables break pairs.
    Shared by `data/build_postcorrect.py` and leave-one-out evaluation."""
    uni: Counter = Counter()
    bi: Counter = Counter()
    for line in _nfc(text).splitlines():
        for chunk in re.split(r"[^\w\s]", line):
            toks = [t.lower() for t in _TOKEN_LM.findall(chunk)]
            toks = [NUM if t.isdigit() else (t if is_syllable(t) else None) for t in toks]
            for t in toks:
                if t and t != NUM:
                    uni[t] += 1
            for a, b in zip(toks, toks[1:]):
                if a and b:
                    bi[(a, b)] += 1
    return uni, bi


SEED_MIN_VALIDITY = 0.99  # seed texts at least this Vietnamese are in the shipped LM (build_postcorrect.py)



def seed_lm_text(text: str) -> str | None:
    """A seed dispatch as the LM learns it (build_postcorrect.py) and the benchmark holds it out:
    NFC, a broken-font text repaired by `repair.repair_text` first (seed 000 reads ° for ư; repaired
    it is clean administrative prose), None when it is still not clean Vietnamese (an OCR reading
    would teach the model its own errors)."""
    from congvan.pipeline.quality import validity
    from congvan.pipeline.repair import repair_text

    text = _nfc(text)
    if validity(text).score < SEED_MIN_VALIDITY:
        text = _nfc(repair_text(text).text)
    return text if validity(text).score >= SEED_MIN_VALIDITY else None


_HELD_OUT: str = ""  # text whose counts are taken out of the LM (leave-one-out evaluation only)


def hold_out(text: str = "") -> None:
    """Evaluate without `text`: its n-gram counts are subtracted from the shipped model until the
    next call (`hold_out()` restores the full model). The benchmark scores each sample with the
    model minus that sample's own seed text, so the LM never saw the page it corrects."""
    global _HELD_OUT
    if text != _HELD_OUT:
        _HELD_OUT = text
        for cached in _LM_CACHES:
            cached.cache_clear()


def _add(table: dict, k, c: int, d: int) -> None:
    c0, d0 = table.get(k, (0, 0))
    table[k] = (c0 + c, d0 + d)


@lru_cache(maxsize=1)
def _shipped_counts() -> tuple[dict[str, tuple[int, int]], dict[tuple[str, str], tuple[int, int]]]:
    """(unigram, bigram) counts of the shipped model file, parsed once a process: `hold_out` derives
    each leave-one-out model from them instead of parsing the file again. Never mutated."""
    uni: dict[str, tuple[int, int]] = {}
    bi: dict[tuple[str, str], tuple[int, int]] = {}
    keys: dict[str, str] = {}  # tone_key per syllable: ~7k syllables make the file's ~110k keys

    def key_of(s: str) -> str:
        k = keys.get(s)
        if k is None:
            k = keys[s] = tone_key(s)
        return k

    # Keyed by `tone_key`: "hòa" and "hoà" are one syllable written two ways, and share their counts.
    for line in _read("congvan.pipeline", "postcorrect_lm.tsv").splitlines():
        if not line or line.startswith("#"):
            continue
        kind, key, c, d = line.split("\t")
        if kind == "U":
            _add(uni, key_of(key), int(c), int(d))
        else:
            a, b = key.split(" ")
            _add(bi, (key_of(a), key_of(b)), int(c), int(d))
    return uni, bi


@lru_cache(maxsize=1)
def _lm() -> _LM:
    uni, bi = _shipped_counts()
    if _HELD_OUT:
        uni, bi = dict(uni), dict(bi)  # the shipped counts stay as parsed
        h_uni, h_bi = count_ngrams(_HELD_OUT)
        for k, n in h_uni.items():
            _add(uni, tone_key(k), -n, 0)
        for (a, b), n in h_bi.items():
            _add(bi, (tone_key(a), tone_key(b)), -n, 0)
        uni = {k: (max(0, c), d) for k, (c, d) in uni.items() if c > 0 or d > 0}
        bi = {k: (max(0, c), d) for k, (c, d) in bi.items() if c > 0 or d > 0}
    by_sk: dict[str, list[str]] = {}
    for s in uni:
        by_sk.setdefault(skeleton(s), []).append(s)
    return _LM(uni, bi, by_sk, sorted(by_sk))


def is_known(word: str) -> bool:
    """A syllable the language model has seen, in either tone placement."""
    return tone_key(word.lower()) in _lm().uni


@lru_cache(maxsize=1)
def known_codes() -> frozenset[str]:
    """Codes that may follow the slash of a number (UBND, KH, NĐ, TTg…), from the extractors' tables."""
    codes = set()
    for name in ("doc_types.tsv", "issuer_codes.tsv", "ref_symbol_codes.tsv"):
        try:
            text = _read("congvan.extractors", name)
        except (FileNotFoundError, ModuleNotFoundError):
            continue
        for line in text.splitlines():
            if line and not line.startswith("#"):
                codes.add(line.split("\t")[0].strip())
    codes.update({"UBND", "HĐND", "KH", "CT", "TB", "QĐ", "NĐ", "CP", "TTg", "VPCP", "SNV", "BNV"})
    return frozenset(c for c in codes if c)


# --------------------------------------------------------------------------- channel cost
def _pieces(s: str) -> list[str]:
    return list(unicodedata.normalize("NFD", s.lower()))


# Tone marks that look alike in a blurred scan: the hook above (hỏi) and the acute (sắc) are both a
# small stroke above the vowel and are tesseract's commonest slip; others are a little less likely.
_MARK_PAIR = {
    frozenset("\u0301\u0309"): 0.15,  # sắc ↔ hỏi
    frozenset("\u0300\u0309"): 0.25,  # huyền ↔ hỏi
    frozenset("\u0300\u0301"): 0.25,  # huyền ↔ sắc
    frozenset("\u0303\u0309"): 0.25,  # ngã ↔ hỏi
    frozenset("\u0303\u0301"): 0.25,  # ngã ↔ sắc
}


@lru_cache(maxsize=4096)
def _sub_cost(a: str, b: str) -> float:
    if a == b:
        return 0.0
    if a in _MARKS and b in _MARKS:
        return _MARK_PAIR.get(frozenset((a, b)), 0.35)
    if {a, b} == {"d", "đ"}:
        return 0.4
    return 1.0


@lru_cache(maxsize=4096)
def _indel_cost(a: str) -> float:
    if a in _TONES:
        return 0.3  # a tone lost or a speck read as one
    return 0.35 if a in _MARKS else 1.0


@lru_cache(maxsize=20_000)
def _decomposed(s: str) -> tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...]]:
    """`edit_cost`'s view of a word: its decomposed letters, the cost of deleting each, and the
    cumulative costs of inserting them (the first row of the table)."""
    pieces = tuple(_pieces(s))
    dels = tuple(_indel_cost(ch) for ch in pieces)
    row = [0.0]
    for c in dels:
        row.append(row[-1] + c)
    return pieces, dels, tuple(row)


@lru_cache(maxsize=100_000)
def edit_cost(a: str, b: str) -> float:
    """Weighted edit distance over decomposed letters: a lost or wrong diacritic costs 0.35, a letter 1."""
    # The textbook recurrence, with each word's letters and their costs decomposed once (the same
    # sums and comparisons as min(), so the same floats): candidate generation calls it thousands of
    # times a page, for a few hundred distinct words.
    x, del_x, _ = _decomposed(a)
    y, del_y, first_row = _decomposed(b)
    prev = first_row
    for ca, del_a in zip(x, del_x):
        left = prev[0] + del_a
        cur = [left]
        for cb, del_b, diag, up in zip(y, del_y, prev, prev[1:]):
            best = up + del_a
            v = left + del_b
            if v < best:
                best = v
            v = diag if ca == cb else diag + _sub_cost(ca, cb)
            if v < best:
                best = v
            cur.append(best)
            left = best
        prev = cur
    return prev[-1]


# --------------------------------------------------------------------------- candidates and scores
def _apply_rules(word: str) -> list[tuple[str, float, str]]:
    out = []
    for r in confusion_rules():
        if r.where == "start":
            if word.startswith(r.wrong):
                out.append((r.right + word[len(r.wrong):], r.cost, f"{r.wrong}→{r.right}"))
            continue
        i = word.find(r.wrong)
        while i != -1:
            if r.where == "any" or i + len(r.wrong) == len(word):
                out.append((word[:i] + r.right + word[i + len(r.wrong):], r.cost, f"{r.wrong}→{r.right}"))
            i = word.find(r.wrong, i + 1)
    return out


@lru_cache(maxsize=50_000)
def candidates(tok: str, fuzzy: bool = True) -> tuple[tuple[str, float, str], ...]:
    """(known syllable, channel cost, rule) for a lower-case token; cheapest route per syllable."""
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    lm = _lm()
    best: dict[str, tuple[float, str]] = {}

    def offer(w: str, cost: float, rule: str) -> None:
        if w in lm.uni and (w not in best or cost < best[w][0]):
            best[w] = (cost, rule)

    frontier = [(tok, 0.0, "")]
    seen = {tok}
    for _depth in range(2):
        nxt = []
        for word, cost, rule in frontier:
            for cand, c, name in _apply_rules(word):
                if cand not in seen and len(cand) <= 10:
                    seen.add(cand)
                    nxt.append((cand, cost + c, (rule + "+" if rule else "") + name))
        frontier = nxt
        for word, cost, rule in nxt:
            for w in lm.by_skeleton.get(skeleton(word), ()):
                extra = edit_cost(word, w)
                if extra <= 0.8:
                    offer(w, cost + extra, "confusion:" + rule + ("+marks" if extra else ""))
    for w in lm.by_skeleton.get(skeleton(tok), ()):
        if w != tok:
            offer(w, edit_cost(tok, w), "marks")
    if fuzzy and len(tok) >= 3:
        sk = skeleton(tok)
        for key, _d, _i in process.extract(sk, lm.skeletons, scorer=Levenshtein.distance, score_cutoff=1, limit=30):
            for w in lm.by_skeleton[key]:
                offer(w, edit_cost(tok, w), "edit")
    best.pop(tok, None)
    same = split_tone(tok)
    for w in [w for w in best if split_tone(w) == same]:
        del best[w]  # "tỏa"/"toả": the same syllable with the tone placed by another convention
    return tuple((w, c, r) for w, (c, r) in best.items())


DICT_PAIR = 3.0  # a dictionary word counts like this many sightings of its syllable pair
BACKOFF = 200.0  # weight of the unigram distribution inside each bigram distribution


@lru_cache(maxsize=1)
def _totals() -> tuple[dict[str, float], float]:
    """Per-syllable mass of its right-hand bigrams (corpus + dictionary), and the unigram total."""
    lm = _lm()
    left: dict[str, float] = {}
    for (a, _b), (c, d) in lm.bi.items():
        left[a] = left.get(a, 0.0) + c + DICT_PAIR * d
    total = sum(c + 0.3 * d + 0.5 for c, d in lm.uni.values())
    return left, total


def _p_uni(w: str) -> float:
    c, d = _lm().uni.get(w, (0, 0))
    return (c + 0.3 * d + 0.5) / _totals()[1]


def _p_bi(a: str, b: str) -> float:
    """P(b | a), interpolated with the unigram: a small corpus must not make unseen pairs impossible."""
    c, d = _lm().bi.get((a, b), (0, 0))
    return (c + DICT_PAIR * d + BACKOFF * _p_uni(b)) / (_totals()[0].get(a, 0.0) + BACKOFF)


def _ctx(a: Optional[str], b: Optional[str]) -> float:
    """Evidence that a and b belong together (0 when no pair is known)."""
    if not a or not b:
        return 0.0
    c, d = _lm().bi.get((a, b), (0, 0))
    return math.log(1 + c + 8 * d)


W_COST = 2.5


def _score(w: str, left: Optional[str], right: Optional[str], cost: float) -> tuple[float, float]:
    """log P(w | left) + log P(right | w) − channel cost; and the raw pair evidence."""
    lp = math.log(_p_bi(left, w)) if left else math.log(_p_uni(w))
    if right:
        lp += math.log(_p_bi(w, right)) - math.log(_p_uni(right))  # normalised: comparable across w
    return lp - W_COST * cost, _ctx(left, w) + _ctx(w, right)


# --------------------------------------------------------------------------- tokens
_TOKEN = re.compile(r"[!|]?[^\W\d_]+|\d+")
_BOUNDARY = re.compile(r"[\s\d.,;:!?()\[\]\"'“”‘’/\-–—…%*]")
_ROMAN = re.compile(r"^[IVXLC]+$")
_IN_ADDRESS = re.compile(r"[.@/](?=[A-Za-z])")  # a token right after ".", "@" or "/" inside an address


@dataclass
class _Tok:
    start: int
    end: int
    text: str
    low: str
    left: Optional[int]  # index of the previous token when only spaces separate them
    right: Optional[int]
    conf: Optional[float]
    fixed: Optional[str] = None  # lower-case corrected form
    rule: str = ""
    score: float = 0.0


def _match_case(src: str, dst: str) -> str:
    letters = [c for c in src if c.isalpha()]
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return dst.upper()
    if letters and letters[0].isupper() or (src[:1] in "!|" and len(src) > 1 and src[1].isupper()):
        return dst[:1].upper() + dst[1:]
    return dst


@lru_cache(maxsize=100_000)
def _is_code(tok: str) -> bool:
    """All-caps ASCII (+Đ) tokens such as UBND, PAPI, SIPAS: codes, not syllables. Cached: asked
    for every token, twice a page."""
    return len(tok) >= 2 and tok.isupper() and all(ord(c) < 128 or c == "Đ" for c in tok)


@lru_cache(maxsize=100_000)
def _lm_form(word: str) -> str:
    """A token as the LM keys it (lower case, `tone_key`); cached, the same words fill every page."""
    return tone_key(word.lower())


def _tokens(text: str, confidences: Optional[dict]) -> list[_Tok]:
    keys = sorted(confidences) if confidences else []
    toks: list[_Tok] = []
    k, at_k, conf_k = 0, -1, None  # keys[:k] start at or before the token; the last one's confidence
    for m in _TOKEN.finditer(text):
        start, word = m.start(), m.group(0)
        conf = None
        if keys:
            while k < len(keys) and keys[k] <= start:  # tokens come in order: no search per token
                k += 1
            if k > 0:
                if at_k != k:
                    v = float(confidences[keys[k - 1]])
                    at_k, conf_k = k, v / 100.0 if v > 1.0 else v
                conf = conf_k
        toks.append(_Tok(start, m.end(), word, _lm_form(word), None, None, conf))
    for i in range(1, len(toks)):
        gap = text[toks[i - 1].end:toks[i].start]
        if gap.strip() == "" and gap.count("\n") <= 1:  # a wrapped line continues the sentence
            toks[i].left, toks[i - 1].right = i - 1, i
    return toks


def _neigh(toks: list[_Tok], i: Optional[int]) -> Optional[str]:
    if i is None:
        return None
    t = toks[i]
    if t.low.isdigit():
        return NUM
    w = t.fixed or t.low
    return w if w in _lm().uni else None


# --------------------------------------------------------------------------- the word pass
MAX_COST = 1.5  # beyond this a candidate for a non-word is a guess, not a correction
# Replacing a known syllable needs this much log-odds gain (LM + channel). 5.0 leaves clean text
# untouched; on pages whose share of non-words shows OCR trouble the bar drops towards MIN_MARGIN.
VALID_MARGIN = 5.0
MIN_MARGIN = 2.5
# Known syllables tesseract scored < 0.6 were wrong ~60 % of the time on a harsh scan, vs ~8 % at
# 0.9+: about 2.5 nats of prior odds.
LOWCONF_BONUS = 2.5
MIN_MARGIN_LOWCONF = 1.5
CLEAN_NOISE = 0.002  # share of non-words on a good scan
NOISE_PRIOR = 300  # pseudo-tokens at the clean rate
# No "tesseract is sure" cut-off for known syllables: on harsh scans it reports 0.9+ for half of its
# tone slips (thí/thi, biếu/biểu), so only context can tell.


def _fix_unknown(toks: list[_Tok], i: int) -> None:
    t = toks[i]
    low = t.low
    left, right = _neigh(toks, t.left), _neigh(toks, t.right)
    cands = candidates(low, fuzzy=True)
    if not cands:
        return
    structurally_ok = is_syllable(low)
    max_cost = MAX_COST if len(low) >= 3 else 1.0
    if t.conf is not None and t.conf >= 0.93 and low.isascii():
        max_cost = 0.5  # tesseract sure of a plain-ASCII non-syllable: a name or foreign word
    elif t.text[:1].isupper() and t.text[1:].islower():
        max_cost = min(max_cost, 0.9)  # capitalised: maybe a minority place name (Đạ Huoai, Cư Jút);
        # only a known confusion or a diacritic slip, not a letter guess
    scored = []
    for w, cost, rule in cands:
        if cost > max_cost:
            continue
        s, ctx = _score(w, left, right, cost)
        scored.append((s, ctx, w, rule))
    if not scored:
        return
    scored.sort(reverse=True)
    s, ctx, w, rule = scored[0]
    if structurally_ok:
        base, _ = _score(low, left, right, 0.0)
        if s - base < 0.5:
            return
    t.fixed, t.rule, t.score = w, rule, round(s, 2)


def _margin(noise: float, low_conf: bool = False, slips: float = 0.0) -> float:
    """Score gain a known syllable's replacement needs: high on clean pages, lower on pages whose
    share of non-words (`noise`) or of doubtful known words (`slips`, see `page_slips`) shows the OCR
    struggling (the prior odds of any word being wrong rise), and lower again for a word tesseract
    itself doubted."""
    m = VALID_MARGIN - math.log(max(1.0, noise / CLEAN_NOISE)) - math.log(max(1.0, slips / CLEAN_SLIPS))
    if low_conf:
        return max(MIN_MARGIN_LOWCONF, m - LOWCONF_BONUS)
    return max(MIN_MARGIN, m)


def page_noise(toks: list[_Tok]) -> float:
    """Share of word tokens that are neither known syllables nor codes."""
    uni = _lm().uni
    words = [t for t in toks if len(t.low) >= 2 and not _is_code(t.text) and not t.low.isdigit()]
    bad = sum(1 for t in words if t.low not in uni)
    # Shrunk towards the clean rate: one odd name in a short text is not evidence of bad OCR.
    return (bad + NOISE_PRIOR * CLEAN_NOISE) / (len(words) + NOISE_PRIOR)


# A blurred scan reads real words with the wrong tone (thể → thế, nổi → nối, tỉnh → tính) far more often
# than it produces non-words, so the share of non-words alone calls such a page clean. Second
# measure: the share of known words for which a diacritic look-alike fits both neighbours markedly
# better (SLIP_GAIN nats) while the word itself forms no known pair. Clean and mildly degraded
# scans: 0–2.3 % (sample pages of ≥ 300 words); the harsh scan: 4.6–5.1 %. The bar drops by
# log(slips / CLEAN_SLIPS) nats (harsh 004: ~1.3), and only for look-alikes that form a pair the
# dispatches use (`_fix_known`). CLEAN_SLIPS 0.01 against 0.015: harsh 1.19 % either way, mild scans
# 0.37 → 0.36 %, the four seeds as harsh scans 9.54 → 9.49 %, no new false correction; 0.0075 made
# "Nguyễn Nhân Bản" "Nguyên" and "cần trao đổi" "cẩn" on real-world scans.
SLIP_GAIN = 2.0
CLEAN_SLIPS = 0.01
SLIP_PRIOR = 200  # pseudo-words at the clean rate: a short page is no evidence either way


@lru_cache(maxsize=50_000)
def _lookalike_cands(low: str) -> tuple[tuple[str, float, str], ...]:
    """`candidates` of a known word that differ from it only by diacritics (channel cost ≤ 0.8): a
    real word changes only by its diacritics, letter confusions ("r"→"í") turned "cho trên 15%" into
    "cho tiên 15%" on a real-world scan. Cached: every occurrence of a word on every page asks again."""
    own_sk = skeleton(low)
    return tuple(c for c in candidates(low, fuzzy=False) if c[1] <= 0.8 and skeleton(c[0]) == own_sk)


def _best_lookalike(toks: list[_Tok], i: int) -> Optional[tuple[float, float, str, str, float]]:
    """(gain over the word as read, candidate channel cost, candidate, rule, own score) of the best
    diacritic look-alike of known word i that forms a known pair with a neighbour; None when the word
    has no neighbour, already forms a known pair, or nothing qualifies."""
    t = toks[i]
    return _lookalike_in(t.low, _neigh(toks, t.left), _neigh(toks, t.right))


@lru_cache(maxsize=50_000)
def _lookalike_in(low: str, left: Optional[str], right: Optional[str]) -> Optional[tuple[float, float, str, str, float]]:
    """`_best_lookalike` of word `low` between `left` and `right` (LM forms or None): a function of
    these three alone, cached because common words recur between the same neighbours."""
    if left is None and right is None:
        return None
    own, own_ctx = _score(low, left, right, 0.0)
    # The word already forms a known pair with a neighbour: it stays, unless that pair is only a
    # dictionary entry the dispatches never use ("đoàn thế và": "thế và") and a look-alike forms a
    # pair they use often ("đoàn thể").
    dict_only = own_ctx > 0
    if dict_only and any(_lm().bi.get(p, (0, 0))[0] > 0 for p in ((left, low), (low, right)) if None not in p):
        return None
    best = None
    for w, cost, rule in _lookalike_cands(low):
        s, ctx = _score(w, left, right, cost)
        if dict_only and not any(_lm().bi.get(p, (0, 0))[0] >= OVERRIDE_PAIR for p in ((left, w), (w, right)) if None not in p):
            continue
        if ctx > 0 and (best is None or s - own > best[0]):
            best = (s - own, cost, w, rule, own)
    return best


OVERRIDE_PAIR = 5  # corpus sightings of the look-alike's pair that outweigh a dictionary-only pair


def _known_candidate(t: _Tok, toks: Optional[list[_Tok]] = None) -> bool:
    """Roman numerals and short codes (XI, TU) are not syllables in context; a short capital syllable
    beside another capital syllable is a word of a heading ("UY BAN NHÂN DÂN")."""
    if _ROMAN.match(t.text):
        return False
    if t.text.isupper() and len(t.text) <= 4 and t.text.isascii():
        if toks is None or not is_syllable(t.low):
            return False
        return any(k is not None and toks[k].text.isupper() and len(toks[k].text) >= 2 and is_syllable(toks[k].low)
                   and toks[k].low in _lm().uni for k in (t.left, t.right))
    return True


def _title(t: _Tok) -> bool:
    return len(t.text) >= 2 and t.text[0].isupper() and t.text[1:].islower()


def _in_name(toks: list[_Tok], i: int) -> bool:
    """A capitalised word next to another capitalised word: part of a proper name."""
    t = toks[i]
    return _title(t) and any(k is not None and _title(toks[k]) for k in (t.left, t.right))


@lru_cache(maxsize=1)
def surnames() -> frozenset[str]:
    """Vietnamese family names (the extractors' `surnames.txt`), lower case."""
    try:
        text = _read("congvan.extractors", "surnames.txt")
    except (FileNotFoundError, ModuleNotFoundError):
        return frozenset()
    return frozenset(_nfc(ln.strip()).lower() for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))


def _person_name(toks: list[_Tok], i: int) -> bool:
    """Word i is the family name opening a person's name ("Nguyễn Nhân Bản", "Lại Văn Hoàn"): it is
    never "corrected" ("Nguyên Nhân" makes a pair prose knows). The other words of a name follow the
    rule for capitalised words (`_name_seen`), which lets "Lâm Đông" become the province "Lâm Đồng"."""
    t = toks[i]
    return _title(t) and t.text.lower() in surnames() and t.right is not None and _title(toks[t.right])


def _name_seen(toks: list[_Tok], i: int, w: str) -> bool:
    """`w` in place of word i makes a pair the corpus has seen (not only a dictionary): "Lâm Đông" →
    "Lâm Đồng" (the province table and dispatches hold it), "Bạn Thị đua" → "Thi đua"."""
    t = toks[i]
    lm = _lm()
    if t.left is not None and lm.bi.get((toks[t.left].low, w), (0, 0))[0] >= NAME_SEEN:
        return True
    return t.right is not None and lm.bi.get((w, toks[t.right].low), (0, 0))[0] >= NAME_SEEN


NAME_SEEN = 2  # corpus sightings (not dictionary entries) of the pair a name's syllable would make


def _lookalikes(toks: list[_Tok], known: list[int]) -> dict[int, Optional[tuple]]:
    """`_best_lookalike` of each known word that may change at all (computed once a page)."""
    return {i: _best_lookalike(toks, i) if _known_candidate(toks[i], toks) else None for i in known}


def page_slips(toks: list[_Tok], known: list[int], looks: Optional[dict] = None) -> float:
    """Share of the known words `known` that a look-alike beats by SLIP_GAIN (see CLEAN_SLIPS),
    shrunk towards the clean rate."""
    looks = _lookalikes(toks, known) if looks is None else looks
    hits = sum(1 for i in known if looks.get(i) and looks[i][0] >= SLIP_GAIN)
    return (hits + SLIP_PRIOR * CLEAN_SLIPS) / (len(known) + SLIP_PRIOR)


_UNSET = object()


def _fix_known(toks: list[_Tok], i: int, noise: float = 0.0, slips: float = 0.0,
               look=_UNSET) -> Optional[tuple[str, str, float]]:
    """(replacement, rule, gain) for a known syllable that context overrules, else None."""
    t = toks[i]
    if not _known_candidate(t, toks):
        return  # roman numerals and short codes (XI, TU) are not syllables in context
    low_conf = t.conf is not None and t.conf < 0.6
    best = _best_lookalike(toks, i) if look is _UNSET else look
    if best and _person_name(toks, i):
        return None
    if best and _in_name(toks, i) and not _name_seen(toks, i, best[2]):
        return None  # "Trương Minh Đương" is no "Trường Minh Dương": a dictionary pair says nothing of names
    if best is None:
        return None
    left, right = _neigh(toks, t.left), _neigh(toks, t.right)
    used = any(_lm().bi.get(p, (0, 0))[0] > 0 for p in ((left, best[2]), (best[2], right)) if None not in p)
    # The lower bar of a page full of tone slips is for look-alikes the dispatches use beside these
    # neighbours; a pair only a dictionary lists ("thông tin cần" → "tin cẩn") must clear the usual one.
    if best[0] >= _margin(noise, low_conf, slips if used else 0.0):
        return best[2], "context:" + best[3], round(best[0], 2)
    return None


PAIR_EXTRA = 1.0  # a pair changes two words: it needs this much more gain than one word


def _lp(a: Optional[str], b: str) -> float:
    return math.log(_p_bi(a, b)) if a else math.log(_p_uni(b))


def _fix_pair(toks: list[_Tok], i: int, j: int, noise: float, slips: float = 0.0) -> Optional[tuple[tuple[str, str], str, float]]:
    """((word i, word j), rule, gain) when two adjacent known syllables that form no known pair are
    both look-alikes of a known pair that context prefers by the margin (+ PAIR_EXTRA)."""
    a, b = toks[i], toks[j]
    if _ctx(a.low, b.low) > 0 or any(_ROMAN.match(t.text) or (t.text.isupper() and t.text.isascii()) for t in (a, b)):
        return None
    pairs = _seen_pairs(a.low, b.low)
    if not pairs:
        return None  # most pairs: no look-alike pair the dispatches use, nothing to score
    left, right = _neigh(toks, a.left), _neigh(toks, b.right)

    def score(wa: str, wb: str) -> float:
        s = _lp(left, wa) + _lp(wa, wb)
        if right:
            s += math.log(_p_bi(wb, right)) - math.log(_p_uni(right))
        return s

    own = score(a.low, b.low)
    if _person_name(toks, i) or _person_name(toks, j):
        return None
    names = _in_name(toks, i) or _in_name(toks, j)
    low_conf = any(t.conf is not None and t.conf < 0.6 for t in (a, b))
    margin = _margin(noise, low_conf, slips) + PAIR_EXTRA
    best = None
    for (wa, xa, ra), (wb, xb, rb), seen in pairs:
        if names and seen < NAME_SEEN:
            continue  # a name's syllables change only into a pair seen more than once
        s = score(wa, wb) - W_COST * (xa + xb)
        if s - own >= margin and (best is None or s > best[0]):
            best = (s, (wa, wb), f"pair:{ra or '='}|{rb or '='}")
    if best:
        return best[1], best[2], round(best[0] - own, 2)
    return None


@lru_cache(maxsize=50_000)
def _seen_pairs(la: str, lb: str) -> tuple[tuple[tuple[str, float, str], tuple[str, float, str], int], ...]:
    """(look-alike of la, look-alike of lb, corpus sightings) for each pair of diacritic look-alikes
    (`_lookalike_cands`, both words changed) that the dispatches use: two words change only into
    such a pair ("lảm mới" is no "làm mối", a dictionary entry). Cached per word pair, in
    `_fix_pair`'s order; for most pairs it is empty and `_fix_pair` stops at once."""
    bi = _lm().bi
    out = []
    for ca in _lookalike_cands(la):
        for cb in _lookalike_cands(lb):
            if ca[0] == la or cb[0] == lb:
                continue  # both words change (a word as read is not its own look-alike, but say so)
            seen = bi.get((ca[0], cb[0]), (0, 0))[0]
            if seen:
                out.append((ca, cb, seen))
    return tuple(out)


def _word_pass(text: str, confidences: Optional[dict], blocked: list[tuple[int, int]]) -> list[Change]:
    toks = _tokens(text, confidences)
    uni = _lm().uni
    old_style = uses_old_tone_style(text)  # write corrections in the text's own tone placement

    def skip(t: _Tok) -> bool:
        if len(t.low) < 2 or len(t.low) > 9 or t.low.isdigit():
            return True
        before = text[t.start - 1] if t.start else " "
        after = text[t.end] if t.end < len(text) else " "
        if not (_BOUNDARY.match(before) and _BOUNDARY.match(after)):
            return True  # a piece of a longer run glued to a symbol (th°ởng): not a word of its own
        if _IN_ADDRESS.match(text, max(0, t.start - 1)) or has_at and "@" in text[max(0, t.start - 40):t.start] and \
                not text[max(0, t.start - 40):t.start].strip().count(" ") or (after == "." and text[t.end + 1:t.end + 2].isalpha()):
            return True  # part of an e-mail or web address (moha.gov.vn): not Vietnamese
        if _is_code(t.text) and not is_syllable(t.text):
            return True
        # Overlaps a structural change: one starting before the token's end that ends after its start
        # (the furthest end among those starting before, via a running maximum: no scan per token).
        k = bisect.bisect_left(starts, t.end)
        return k > 0 and reach[k - 1] > t.start

    has_at = "@" in text  # most pages hold no e-mail address: no look-back per token
    spans = sorted(blocked)
    starts = [a for a, _b in spans]
    reach = []
    for _a, b in spans:
        reach.append(max(reach[-1], b) if reach else b)
    skipped = [skip(t) for t in toks]  # once per token: the passes below all consult it
    unknown = [i for i, t in enumerate(toks) if not skipped[i] and t.low not in uni]
    for _round in range(2):  # second round sees its neighbours' corrections
        for i in unknown:
            _fix_unknown(toks, i)
    noise = page_noise(toks)
    known = [i for i, t in enumerate(toks) if not skipped[i] and t.low in uni and is_syllable(t.low)]
    looks = _lookalikes(toks, known)
    slips = page_slips(toks, known, looks)
    # Decided against the text as read, applied together: one context change must not license the
    # next ("bị bỏ" → "bi bỏ" → "bi bô").
    # (A word without a look-alike stays: no need to ask `_fix_known`.)
    decided = {i: _fix_known(toks, i, noise, slips, looks[i]) if looks[i] else None for i in known}
    for i, d in decided.items():
        if d:
            toks[i].fixed, toks[i].rule, toks[i].score = d
    # Two neighbouring slips ("chuyến đối số" for "chuyển đổi số"): each word's only context is the
    # other wrong word, so single-word repair cannot see them; the pair is judged as one.
    # A pair the dispatches use also overrules a single-word change that context prefers less
    # ("tiền tiền" → "tiên tiến", not "tiên tiền"; a dictionary-only pair does not: "lảm mới" is
    # "làm mới", not "làm mối").
    paired: set[int] = set()
    for i, t in enumerate(toks):
        j = t.right
        if j is None or i not in decided or j not in decided or i in paired:
            continue
        d = _fix_pair(toks, i, j, noise, slips)
        if d and (not (decided[i] or decided[j]) or _lm().bi.get(d[0], (0, 0))[0] >= OVERRIDE_PAIR
                  and all(not decided[k] or decided[k][2] < d[2] for k in (i, j))):
            (wa, wb), rule, gain = d
            toks[i].fixed, toks[i].rule, toks[i].score = wa, rule, gain
            toks[j].fixed, toks[j].rule, toks[j].score = wb, rule, gain
            paired.update((i, j))  # not the first word of another pair
    out = []
    for t in toks:
        if t.fixed and t.fixed != t.low:
            after = _match_case(t.text, old_tone_style(t.fixed) if old_style else t.fixed)
            if after != t.text and tone_key(after) != tone_key(t.text):
                out.append(Change(t.start, t.end, t.text, after, t.rule, t.score))
    return out


# --------------------------------------------------------------------------- structure repairs
_SO_LINE = re.compile(r"(?m)^([ \t]*)(S[ỐốÓóỒồỎỏÔôOo06][ \t]*[:;.]?)([ \t]*[\^~`'’\"*°.,]*[ \t]*)(\d*)([ \t]*/)(?=[ \t]*[A-ZĐ])")
_SLASH_SUBS = [("4", "/U"), ("l", "/"), ("I", "/"), ("|", "/"), ("1", "/"), ("7", "/"), ("", "/")]
_NUMSYM = re.compile(r"(?<![\w/])(\d{1,5})([0-9lI|/]?[A-ZĐ][A-ZĐa-z]{0,7})((?:-[A-ZĐ][A-ZĐa-z0-9]{0,8})+)(?![\w/])")
# A separator misread as : ; . l I | beside a real slash ("-" and "," are left: "tháng 11-12/2024").
_DATE = re.compile(r"(?<![\d/])(\d{1,2})([ \t]?[/:;.lI|][ \t]?)(\d{1,2})([ \t]?[/:;.lI|][ \t]?)((?:19|20)\d\d|[12]\d{3})(?!\d)")
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d\d)(?!\d)")


def _symbol_fixes(text: str) -> list[Change]:
    """"6794BND-TH" → "679/UBND-TH": the slash misread; accepted only if a known code follows it."""
    codes = known_codes()
    out = []
    for m in _NUMSYM.finditer(text):
        tok = m.group(0)
        digits = m.group(1)
        for k in range(len(digits), 0, -1):
            head, rest = tok[:k], tok[k:]
            found = None
            for wrong, right in _SLASH_SUBS:
                if wrong and not rest.startswith(wrong):
                    continue
                cand = right + rest[len(wrong):]
                code = cand[1:].split("-")[0]
                if code in codes:
                    found = head + cand
                    break
            if found:
                out.append(Change(m.start(), m.end(), tok, found, "structure:symbol-slash", 1.0))
                break
    return out


def _date_fixes(text: str) -> list[Change]:
    """Date separators misread (29:02/2024) and years far from the document's other years (2074)."""
    years = Counter(int(y) for y in _YEAR.findall(text))
    out = []
    for m in _DATE.finditer(text):
        d, s1, mo, s2, y = m.groups()
        if not (1 <= int(d) <= 31 and 1 <= int(mo) <= 12):
            continue
        seps = (s1.strip(), s2.strip())
        if "/" not in seps:
            continue  # 15.10.2024 and 15-10-2024 are legitimate styles
        new_y = _plausible_year(int(y), years)
        fixed = f"{d}/{mo}/{new_y}"
        if fixed != m.group(0):
            out.append(Change(m.start(), m.end(), m.group(0), fixed, "structure:date", 1.0))
    # "năm 2074" in a 2024 letter
    for m in re.finditer(r"(?<=năm )(\d{4})(?!\d)", text):
        new_y = _plausible_year(int(m.group(1)), years)
        if str(new_y) != m.group(1):
            out.append(Change(m.start(), m.end(), m.group(1), str(new_y), "structure:year", 1.0))
    return out


def _plausible_year(y: int, years: Counter) -> int:
    """A year more than 10 years from every other year in the text → the commonest year one digit away."""
    others = Counter({k: v for k, v in years.items() if k != y})
    if sum(others.values()) < 2 or (1900 <= y <= max(others) + 5):
        return y  # too little evidence, or a possible year (old dates are real: "28/6/1909")
    s = str(y)
    best, best_n = y, 0
    for k, n in others.items():
        ks = str(k)
        if len(ks) == len(s) and sum(a != b for a, b in zip(ks, s)) == 1 and n > best_n and n >= years[y]:
            best, best_n = k, n
    return best


def _so_fixes(text: str) -> list[Change]:
    """Line-initial "SỐ:^/UBND", "Só: /", "S6:" → "Số: /": the number label read wrong, junk dropped."""
    out = []
    for m in _SO_LINE.finditer(text):
        label, junk, digits, slash = m.group(2), m.group(3), m.group(4), m.group(5)
        ws = re.sub(r"\S", "", junk) or " "  # keep the blank left for a hand-written number
        fixed = "Số:" + ws + digits + slash.strip()
        before = text[m.start(2):m.end(5)]
        if before != fixed:
            out.append(Change(m.start(2), m.end(5), before, fixed, "structure:so-label", 1.0))
    return out


# Standalone specks: tokens made of ^ ~ ` ¬ „ ˆ _ (possibly with * — -), never text in a dispatch.
_JUNK = re.compile(r"(?m)(?:(?<=\s)|^)(?=[*—\-]*[\^~`¬„ˆ_])[\^~`¬„ˆ_*—\-]+(?:[ \t]+|$)")
_TABLE_RULE = re.compile(r"(?<=\S)[ \t]+\|[ \t]+(?=\S)")  # a table's vertical rule read as "|"
_DOUBLE_DASH = re.compile(r"(?<= )(?:—-|-—|--)(?= )")


# Punctuation standing alone: in Vietnamese (as in French-less typesetting generally) . , : ; attach to
# the word before them, so one with blanks on both sides (or alone at a line's start or end) is a
# speck: "tổng .", ". nội dung", "tỉnh : :", "công sở”, '". Leaders of dots ("ngày .... tháng") are kept.
_LONE_PUNCT = re.compile(r"(?m)(?:(?<= )|^)(?![.…]{3})[.,:;'’‘`⁄|_]{1,2}(?= |$)")  # tabs are cell borders: kept
# A single capital letter with a diacritic, alone, not starting a lower-case phrase ("Ở cấp tỉnh",
# "Ý kiến" are words): the stamp's or the header rule's debris ("…-NCKS Ô Thái Bình", "VIII. Ì").
_LONE_CAPITAL = re.compile(r"(?m)(?:(?<=[ \t])|^)(?![ĐA-Z])[^\W\d_a-zà-ỹđ](?=[ \t]*$|[ \t]+[^\w\s]|[ \t]+[A-ZĐÀ-Ỹ])")
# A dash left alone at a line's end after a finished clause: "xã hội. -" (a wrapped "kinh tế -" is kept).
_TRAILING_DASH = re.compile(r"(?m)(?<=[.,;:”\"’'] ) *[-–—](?: +[.,:;'’‘`_]{1,2})* *$")


_BULLET_LINE = re.compile(r"[ \t]*[-+•*–—=~»]")
# Speck runs: "-_..." (a token of dashes and dots holding an underscore or caret), "- + -" (more than
# one bullet before a capital at a line's start), "'Lại Văn Hoàn" (a quote opening a line with no
# quote to close it).
_SPECK_RUN = re.compile(r"(?m)(?:(?<= )|^)(?=[-—.…*]*[_^~¬ˆ„])[-—_.…^~¬ˆ„*]{2,}(?= |$)")
_BULLETS_RUN = re.compile(r"(?m)^[ \t]*[-+*•—–](?: +[-+*•—–])+ +(?=[A-ZĐÀ-Ỹ])")
_OPEN_QUOTE = re.compile(r"(?m)^[ \t]*['‘’`](?=[A-ZĐÀ-Ỹ][^'‘’`\n]*$)")


def _lone_junk(text: str) -> list[Change]:
    out = []
    for rx in (_SPECK_RUN, _BULLETS_RUN, _OPEN_QUOTE):
        for m in rx.finditer(text):
            b = m.end()
            if m.start() == 0 or text[m.start() - 1] == "\n":
                while b < len(text) and text[b] == " ":
                    b += 1  # nothing left before the line's first word
            out.append(Change(m.start(), b, text[m.start():b], "", "structure:lone-punct", 1.0))
    for rx in (_TRAILING_DASH, _LONE_PUNCT, _LONE_CAPITAL):
        for m in rx.finditer(text):
            a, b = m.start(), m.end()
            if rx is _LONE_PUNCT and m.group(0) in ("|",):
                continue  # a table rule (_TABLE_RULE)
            line_start = text.rfind("\n", 0, a) + 1
            line_end = text.find("\n", b)
            if (rx is _TRAILING_DASH or m.group(0) in (".", ";", ",", ":")) \
                    and not text[b:len(text) if line_end < 0 else line_end].strip() and _BULLET_LINE.match(text, line_start):
                continue  # a list item's own end ("…tỉnh, — _."): the list reader needs it to close the item
            if rx is _LONE_CAPITAL:
                if m.group(0).lower() not in "àáảãạèéẻẽẹìíỉĩịòóỏõọùúủũụỳýỷỹỵâấầẩẫậăắằẳẵặêếềểễệôốồổỗộơớờởỡợưứừửữự":
                    continue
                prev = re.search(r"(\S+)[ \t]*$", text[line_start:a])
                rest = text[b:len(text) if line_end < 0 else line_end].strip()
                if rest[:1].isalpha() and prev and is_syllable(prev.group(1).lower().strip(",;:")):
                    continue  # after a word and before a name it may be one: "đường Ô Chợ Dừa", "huyện Ý Yên"
            # take the blanks before it along (or after it, at a line's start)
            while a > 0 and text[a - 1] == " ":
                a -= 1
            if a == 0 or text[a - 1] == "\n":
                while b < len(text) and text[b] == " ":
                    b += 1
            out.append(Change(a, b, text[a:b], "", "structure:lone-punct", 1.0))
    return out


def _junk_fixes(text: str) -> list[Change]:
    """Specks and rules read as characters: junk tokens dropped, a table rule "|" becomes a tab
    (a cell boundary), a doubled dash becomes one."""
    out = [Change(m.start(), m.end(), m.group(0), "", "structure:junk", 1.0) for m in _JUNK.finditer(text)]
    out += [Change(m.start(), m.end(), m.group(0), "\t", "structure:table-rule", 1.0) for m in _TABLE_RULE.finditer(text)]
    out += [Change(m.start(), m.end(), m.group(0), "-", "structure:dash", 1.0) for m in _DOUBLE_DASH.finditer(text)]
    return out


_GLUED_BEFORE = re.compile(r"(?<![^\W\d_])(ngày|tháng|năm)(?=\d)", re.IGNORECASE)
_GLUED_AFTER = re.compile(r"(?<=\d)(tháng|năm)(?![^\W\d_])", re.IGNORECASE)


_PERIOD_COMMA = re.compile(r"(?<=[^\W\d_]{2})\.(?=[ \t]*\n?[ \t]*[^\W\d_])")  # the next word's case is checked below


def _comma_fixes(text: str) -> list[Change]:
    """"cán bộ. công chức" → "cán bộ, công chức": a period after a word and before a lower-case word
    is a comma whose tail the scan lost (a sentence never starts in lower case). Only after a
    lower-case syllable (not an abbreviation such as "v.v." or "TP.")."""
    out = []
    for m in _PERIOD_COMMA.finditer(text):
        word = re.search(r"[^\W\d_]+$", text[max(0, m.start() - 12):m.start()])
        nxt = re.match(r"[ \t]*\n?[ \t]*([^\W\d_]+)", text[m.end():])
        if not word or not nxt or not word.group(0).islower() or not nxt.group(1).islower():
            continue
        if text[m.end() + nxt.end():m.end() + nxt.end() + 1] in (")", ".") or len(nxt.group(1)) < 2:
            continue  # "…địa phương.\na) Tiếp tục": a list item's letter; "quy định. ặ Trên": a speck
        if not (is_syllable(word.group(0)) and is_syllable(nxt.group(1))):
            continue
        if m.start() - len(word.group(0)) > 0 and text[m.start() - len(word.group(0)) - 1] == ".":
            continue  # v.v. / đ.c.
        if _bound(word.group(0), nxt.group(1)):
            out.append(Change(m.start(), m.end(), ".", "", "structure:speck-in-word", 1.0))
        else:
            out.append(Change(m.start(), m.end(), ".", ",", "structure:comma", 1.0))
    # "giai, đoạn", "thi, đua": a comma inside a word whose first syllable is (almost) never followed
    # by anything else is a speck
    for m in re.finditer(r"(?<=[^\W\d_]),(?=[ \t]*\n?[ \t]*[^\W\d_])", text):
        word = re.search(r"[^\W\d_]+$", text[max(0, m.start() - 12):m.start()])
        nxt = re.match(r"[ \t]*\n?[ \t]*([^\W\d_]+)", text[m.end():])
        if word and nxt and word.group(0).islower() and nxt.group(1).islower() and _bound(word.group(0), nxt.group(1)):
            out.append(Change(m.start(), m.end(), ",", "", "structure:speck-in-word", 1.0))
    return out


BOUND_SHARE = 0.8  # "giai" is followed by "đoạn" in 17 of its 17 sightings, "thi" by "đua" in 205 of 211
BOUND_MIN = 10


def _bound(a: str, b: str) -> bool:
    """The corpus never sees syllable `a` but as the first half of the word "a b" (≥ BOUND_SHARE of
    its sightings, unigram counts include those before punctuation): no punctuation can come between."""
    a, b = tone_key(a.lower()), tone_key(b.lower())
    lm = _lm()
    # `a` as read or with another tone (the word pass may still repair "thí. đua" to "thi đua")
    for w in [a] + [w for w, c, _r in _lookalike_cands(a) if c <= 0.5]:
        n = lm.uni.get(w, (0, 0))[0]
        if n >= BOUND_MIN and lm.bi.get((w, b), (0, 0))[0] >= BOUND_SHARE * n:
            return True
    return False


# Caches whose values depend on the LM: `hold_out` clears them with it.
_LM_CACHES = (_lm, _totals, candidates, _lookalike_cands, _lookalike_in, _seen_pairs)


def _glued_fixes(text: str) -> list[Change]:
    """"ngày99", "15tháng", "năm2024": a date word glued to its number (a lost space) gets it back,
    so date parsing and the word pass see two tokens."""
    out = [Change(m.end(), m.end(), "", " ", "structure:glued-date", 1.0) for m in _GLUED_BEFORE.finditer(text)]
    out += [Change(m.start(), m.start(), "", " ", "structure:glued-date", 1.0) for m in _GLUED_AFTER.finditer(text)]
    return out


# The distribution list ("Nơi nhận:") has one shape in every dispatch (Decree 30/2020): items start
# with "- ", end with ";", the last one is "- Lưu: VT, <drafting unit>." OCR reads the ";" as ":" or
# ",", adds specks after it ("tỉnh, — _."), glues the bullet ("-Lưu") and drops the filing label's
# colon and comma ("Lưu VTÍNCKS").
_NOI_NHAN = re.compile(r"(?m)^[ \t*|]*N[ơo][iỉíìị][ \t]*nh[ậaâ]n[ \t]*[:;.]?")
_ITEM_TAIL = re.compile(r"(?<=[^\W_]|[)\]])((?:[ \t]*[,.:;—–\-_⁄'`’]+)+)[ \t]*$")
_LUU = re.compile(r"^([ \t]*)[-–—*=~»]?[ \t]*(Lưu)[ \t]*[:;.]?[ \t]*(VT)(?:[ \t]*[,.;:|/ÍÌỈĨỊ][ \t]*|[ \t]+)(?=[A-ZĐ]{2})")


def _distribution_fixes(text: str) -> list[Change]:
    m = _NOI_NHAN.search(text)
    if not m:
        return []
    out = []
    pos = text.find("\n", m.end())
    lines = []
    while pos != -1:
        start = pos + 1
        end = text.find("\n", start)
        end = len(text) if end == -1 else end
        lines.append((start, end))
        pos = end if end < len(text) else -1
    items = []
    finished = False
    for n, (a, b) in enumerate(lines):
        line = text[a:b]
        if re.match(r"[ \t]*[-–—*=~»]", line) or line.lstrip().startswith("Lưu"):
            items.append((a, b))
            finished = bool(re.search(r"[;.][^\w]*$", line))
            if line.lstrip(" \t-–—*=~»").startswith("Lưu"):
                break
        elif line.strip() and finished and n and not text[lines[n - 1][0]:lines[n - 1][1]].strip() \
                and (lead := re.match(r"[ \t]*(?:[_„^~¬ˆ`'’]+[ \t]+)?(?=[A-ZĐÀ-Ỹ])", line)) \
                and any(w.islower() for w in re.findall(r"[^\W\d_]+", line)):
            # a bullet OCR dropped: a new item after a blank line and a finished one ("Ban Thi đua - Khen
            # thưởng, Sở Nội vụ,"); a signer's name (all capitalised) or title (all capitals) is no item
            out.append(Change(a, a + lead.end(), line[:lead.end()], "- ", "structure:distribution", 1.0))
            items.append((a, b))
            finished = False
    for k, (a, b) in enumerate(items):
        line = text[a:b]
        scrap = re.search(r"[:,]([ \t]+[a-zà-ỹđ]{1,3})?[ \t]+[^\w\s.;,:]{1,2}[ \t]*$|:[ \t]+[a-zà-ỹđ]{1,3}[ \t]*$", line)
        if scrap and scrap.start() > 0:  # "Trung ương: tay ⁄": the item's ";" read as ":" and a scrap after it
            out.append(Change(a + scrap.start(), b, line[scrap.start():], ";" if k < len(items) - 1 else ".",
                              "structure:distribution", 1.0))
            continue
        luu = _LUU.match(line)
        if luu:
            fixed = luu.group(1) + "- Lưu: VT, "
            if line[:luu.end()] != fixed:
                out.append(Change(a, a + luu.end(), line[:luu.end()], fixed, "structure:distribution", 1.0))
        else:
            bullet = re.match(r"([ \t]*)([*=~»](?:[ \t]+[_„^~¬ˆ`]+)*)[ \t]*(?=[A-ZĐÀ-Ỹ])", line)
            if bullet:  # a "-" read as another mark
                out.append(Change(a + bullet.start(2), a + bullet.end(), line[bullet.start(2):bullet.end()], "- ",
                                  "structure:distribution", 1.0))
        nl = text.find("\n", b + 1)
        next_line = text[b + 1:len(text) if nl == -1 else nl] if b < len(text) else ""
        if next_line.strip() and not re.match(r"[ \t]*[-–—*=~»+•]", next_line):
            continue  # the item goes on ("- Các sở, ban, ngành,\n  đoàn thể tỉnh;")
        tail = _ITEM_TAIL.search(line)
        if tail and (not luu or tail.start(1) > luu.end()):
            want = "." if luu or k == len(items) - 1 else ";"
            if tail.group(1).strip() != want and tail.group(1).strip() not in (".", ";") + ((";",) if want == "." else ()):
                out.append(Change(a + tail.start(1), a + tail.end(), tail.group(0), want, "structure:distribution", 1.0))
    return out


# "lần thứ VIH", "khóa XIH": two strokes of a roman numeral joined by the blur read as an H.
_ROMAN_H = re.compile(r"(?i:\b(?:thứ|khóa|khoá)[ \t]+)([IVX]*H[IVXH]*)\b")
_VALID_ROMAN = re.compile(r"^(?:X{0,3})(?:IX|IV|V?I{0,3})$")


def _roman_fixes(text: str) -> list[Change]:
    out = []
    for m in _ROMAN_H.finditer(text):
        fixed = m.group(1).replace("H", "II")
        if fixed and _VALID_ROMAN.match(fixed):
            out.append(Change(m.start(1), m.end(1), m.group(1), fixed, "structure:roman", 1.0))
    return out


# Items lettered a) b) c) d) đ) e) g) h) i) k)…: a d) and an đ) differ by a stroke the blur takes or adds.
_ITEM_LETTERS = "abcdđeghiklmnopqrstuvxy"
_ITEM = re.compile(r"(?m)^[ \t]*(?:(?:[^\w\s]|_){1,2}[ \t]+)?([a-zđ])\)")  # a speck may precede it


def _item_fixes(text: str) -> list[Change]:
    """"c) … đ) … đ)" → "c) … d) … đ)": of two items lettered alike, the one that breaks the sequence
    where one mark fixes it."""
    items = list(_ITEM.finditer(text))
    out = []
    for k, m in enumerate(items):
        if k == 0:
            continue
        prev = items[k - 1].group(1)
        nxt = items[k + 1].group(1) if k + 1 < len(items) else None
        if prev not in _ITEM_LETTERS or m.group(1) not in "dđ" or m.group(1) not in (prev, nxt):
            continue
        want = _ITEM_LETTERS[_ITEM_LETTERS.index(prev) + 1] if prev != "y" else ""
        if want in "dđ" and want != m.group(1):
            out.append(Change(m.start(1), m.end(1), m.group(1), want, "structure:item-letter", 1.0))
    return out


# --------------------------------------------------------------------------- entry points
def postcorrect(text: str, *, confidences: dict | None = None) -> Corrected:
    """Repair OCR errors in Vietnamese `text`; `confidences` maps a word's start offset to tesseract's
    confidence (0–1 or 0–100), see `confidences_from_tsv`. Offsets in the changes refer to `text`."""
    if not text:
        return Corrected(text, [])
    structural: list[Change] = []
    for fn in (_distribution_fixes, _so_fixes, _symbol_fixes, _date_fixes, _junk_fixes, _glued_fixes, _comma_fixes, _lone_junk,
               _roman_fixes, _item_fixes):
        for ch in fn(text):
            if all(ch.end <= c.start or ch.start >= c.end for c in structural if c.end > c.start or ch.end > ch.start):
                structural.append(ch)
    words = _word_pass(text, confidences, [(c.start, c.end) for c in structural])
    changes = sorted(structural + words, key=lambda c: c.start)
    out, pos = [], 0
    for c in changes:
        out.append(text[pos:c.start])
        out.append(c.after)
        pos = c.end
    out.append(text[pos:])
    return Corrected("".join(out), changes)


def confidences_from_tsv(data: dict, text: str) -> dict[int, float]:
    """{start offset in `text`: confidence 0–1} for tesseract `image_to_data` words found in `text`
    (the text `ocr._tsv_to_text` built from the same data), matched in order."""
    out: dict[int, float] = {}
    pos = 0
    for word, conf in zip(data.get("text", []), data.get("conf", [])):
        word = _nfc((word or "").strip())
        try:
            c = float(conf)
        except (TypeError, ValueError):
            continue
        if not word or c < 0:
            continue
        i = text.find(word, pos)
        if i == -1:
            continue
        out[i] = c / 100.0
        pos = i + len(word)
    return out


# --------------------------------------------------------------------------- second readings
_CORE = re.compile(r"[^\W\d_]+")
READING_IOU = 0.6  # boxes overlapping this much are the same word read twice


def _box(d: dict, i: int) -> tuple[int, int, int, int]:
    return d["left"][i], d["top"][i], d["left"][i] + d["width"][i], d["top"][i] + d["height"][i]


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def tsv_words(d: dict) -> list[int]:
    """Indices of the words tesseract read in an image_to_data dict (text, and a confidence:
    -1 marks layout rows)."""
    out = []
    for i, w in enumerate(d.get("text", [])):
        try:
            conf = float(d["conf"][i])
        except (TypeError, ValueError):
            continue
        if (w or "").strip() and conf >= 0:
            out.append(i)
    return out


def arbitrate_readings(data: dict, others: list[dict]) -> tuple[dict, int]:
    """`data` (tesseract `image_to_data` dict of the chosen reading) with each word that another
    reading of the same page read differently *only in its diacritics* (same box, same skeleton:
    đấy/đẩy, thì/thi) replaced by the form the syllable LM prefers between its neighbours.

    Why: the models disagree mostly where the print is unclear, and there word confidence does not
    tell who is right (confidence voting measured no better on the harsh scan) but context does;
    the candidates are limited to what some model saw, so a correct word is only replaced when a
    model read the alternative. Returns (new dict, number of words replaced)."""
    d = {k: list(v) for k, v in data.items()}
    idx = tsv_words(d)
    cores = [(_CORE.search(_nfc(d["text"][i])) or None) for i in idx]
    changed = 0
    for other in others:
        oidx = tsv_words(other)
        # Each line band's boxes, computed once (not once per word of `data` that looks at the band).
        by_line: dict[int, list[tuple[int, tuple[int, int, int, int]]]] = {}
        for j in oidx:
            by_line.setdefault(other["top"][j] // 50, []).append((j, _box(other, j)))
        for k, i in enumerate(idx):
            m = cores[k]
            if m is None:
                continue
            box = _box(d, i)
            x0, x1 = box[0], box[2]
            best = None
            for band in (box[1] // 50 - 1, box[1] // 50, box[1] // 50 + 1):
                for j, obox in by_line.get(band, ()):
                    if obox[0] >= x1 or obox[2] <= x0:
                        continue  # no horizontal overlap: IoU 0 (most of the band)
                    v = _iou(box, obox)
                    if v > READING_IOU and (best is None or v > best[0]):
                        best = (v, j)
            if best is None:
                continue
            alt_word = _nfc(other["text"][best[1]].strip())
            alt = _CORE.search(alt_word)
            a, b = m.group(0), alt.group(0) if alt else ""
            if not b or a == b or a.lower() == b.lower() or skeleton(a.lower()) != skeleton(b.lower()) \
                    or not is_syllable(b.lower()):
                continue
            left = next((c.group(0).lower() for c in reversed(cores[:k]) if c), None) if k else None
            right = next((c.group(0).lower() for c in cores[k + 1:] if c), None)
            own, _ = _score(a.lower(), left, right, 0.0)
            new, _ = _score(b.lower(), left, right, 0.0)
            if new > own:
                word = _nfc(d["text"][i])
                d["text"][i] = word[:m.start()] + _match_case(a, b) + word[m.end():]
                cores[k] = _CORE.search(_nfc(d["text"][i]))
                changed += 1
    return d, changed
