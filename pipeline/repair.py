"""Text repair: NFC, legacy Vietnamese encodings (TCVN3, VNI) and broken ToUnicode maps.

Every repair is chosen by evidence and kept only if it makes the text *more* Vietnamese
(`quality.validity`): a wrong table applied to good text would silently corrupt it.
Tables live in `pipeline/data/` (TCVN3/VNI exported from viparse, MIT).
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Iterable, Optional, Sequence

from congvan.pipeline.quality import is_syllable, token_ok, tone_key, validity  # noqa: F401  (tone_key re-exported)


def nfc(text: str) -> str:
    """Canonical composition: Vietnamese written in NFD (e + combining marks) and NFC must compare equal."""
    return unicodedata.normalize("NFC", text)




# --------------------------------------------------------------------------- legacy tables
def _unescape(cell: str) -> str:
    return re.sub(r"U\+([0-9A-F]{4})", lambda m: chr(int(m.group(1), 16)), cell)


@lru_cache(maxsize=None)
def load_table(name: str) -> tuple[tuple[str, str], ...]:
    """(legacy sequence, unicode) pairs from `data/<name>.tsv`, longest sequence first."""
    text = resources.files("congvan.pipeline").joinpath("data", f"{name}.tsv").read_text(encoding="utf-8")
    pairs = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        a, b = line.split("\t")
        pairs.append((_unescape(a), _unescape(b)))
    pairs.sort(key=lambda p: len(p[0]), reverse=True)
    return tuple(pairs)


def convert(text: str, pairs: Sequence[tuple[str, str]]) -> str:
    """One left-to-right scan, longest match first, so output is never re-matched."""
    by_first: dict[str, list[tuple[str, str]]] = {}
    for a, b in pairs:
        by_first.setdefault(a[0], []).append((a, b))
    out, i = [], 0
    while i < len(text):
        for a, b in by_first.get(text[i], ()):
            if text.startswith(a, i):
                out.append(b)
                i += len(a)
                break
        else:
            out.append(text[i])
            i += 1
    return nfc("".join(out))


def decode_tcvn3(text: str) -> str:
    """TCVN3/ABC (.VnTime): "Uû ban nh©n d©n" → "Uỷ ban nhân dân"."""
    return convert(text, load_table("tcvn3"))


def decode_vni(text: str) -> str:
    """VNI (VNI-Times): composite base + mark, "UÛy ban nhaân daân" → "Ủy ban nhân dân"."""
    return convert(text, load_table("vni"))


LEGACY_DECODERS = {"TCVN3": decode_tcvn3, "VNI": decode_vni}


def legacy_font_family(fontname: str) -> str | None:
    """Which legacy encoding a font name implies: '.VnTime' → TCVN3, 'VNI-Times' → VNI."""
    name = fontname.split("+", 1)[-1]
    if re.match(r"(?i)^vni[-_ ]?", name):
        return "VNI"
    if re.match(r"^\.?Vn[A-Z]", name):
        return "TCVN3"
    return None


@dataclass
class LegacyChoice:
    encoding: str | None
    text: str
    before: float
    after: float


def best_legacy_decoding(text: str, hint: str | None = None, margin: float = 0.05) -> LegacyChoice:
    """Try TCVN3 and VNI; keep one only if it beats the text as is by `margin` (font hint lowers the bar)."""
    before = validity(text).score
    best = LegacyChoice(None, text, before, before)
    for enc, fn in LEGACY_DECODERS.items():
        cand = fn(text)
        score = validity(cand).score
        need = before + (0.0 if enc == hint else margin)
        if score > need and score > best.after:
            best = LegacyChoice(enc, cand, before, score)
    return best


# --------------------------------------------------------------------------- broken ToUnicode maps
# Targets a stray symbol may stand for: every Vietnamese letter that is not plain ASCII.
# Ties go to the commonest letters, so they come first.
_VI_LETTERS = "ươđêôâă" + "àáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"


SUSPECTS = _SUSPECTS = frozenset(map(chr, range(0xA1, 0xC0)))  # ¡ … ¿, ° among them


def is_suspect(ch: str) -> bool:
    """A symbol from the Latin-1 block that a Vietnamese letter may have been mis-mapped to (° ¡ ¯ ¢ …)."""
    return ch in _SUSPECTS


# Every letter is a regex word character, so each run of letters and suspect symbols lies inside
# one span of word characters and suspects: only the spans holding a suspect are walked glyph by glyph.
_RUN_SPAN = re.compile("[\\w\u00a1-\u00bf]+")


def _word_runs(text: str) -> list[str]:
    """Runs of letters and suspect symbols: the tokens a mis-mapped letter hides in."""
    runs = []
    for span in _RUN_SPAN.findall(text):
        if _SUSPECTS.isdisjoint(span):
            continue  # no run in it holds a suspect symbol
        cur: list[str] = []
        for ch in span:  # digits, '_' and other numerals are word characters but end a run
            if ch.isalpha() or ch in _SUSPECTS:
                cur.append(ch)
            else:
                if cur:
                    runs.append("".join(cur))
                cur = []
        if cur:
            runs.append("".join(cur))
    return [r for r in runs if any(is_suspect(c) for c in r) and any(c.isalpha() for c in r)]


@dataclass
class SymbolMap:
    mapping: dict[str, str] = field(default_factory=dict)
    evidence: dict[str, tuple[int, int]] = field(default_factory=dict)  # symbol -> (valid after, tokens)

    def describe(self) -> str:
        return " ".join(sorted(self.mapping)) + " → " + " ".join(self.mapping[s] for s in sorted(self.mapping))


def learn_symbol_map(text: str, min_share: float = 0.6) -> SymbolMap:
    """Find, for each stray symbol inside words, the Vietnamese letter that makes those words valid.

    The mapping differs between files (the broken font's glyph order), so it is learnt from the page:
    each candidate letter is scored by how many of the symbol's words become valid syllables.
    """
    runs = _word_runs(text)
    symbols = Counter(c for r in runs for c in r if is_suspect(c))
    result = SymbolMap()
    scores: dict[str, Optional[float]] = {}  # candidate word → its score
    for _round in range(2):  # second round resolves words holding two symbols (Trung °¡ng)
        for sym, _ in symbols.most_common():
            if sym in result.mapping:
                continue
            # the symbol's words with the letters learnt so far put in (the same for every letter tried)
            toks = [r for r in runs if sym in r]
            mapped = ["".join(result.mapping.get(c, c) for c in t) for t in toks]
            # a word still holding another unmapped symbol scores None whatever letter is tried
            # (letters are not symbols): left out once here rather than once per letter
            mapped = [m for m in mapped if _SUSPECTS.isdisjoint(m.replace(sym, ""))]
            usable = len(mapped)
            best, best_ok = None, 0
            for letter in _VI_LETTERS:
                ok = 0
                for m in mapped:  # summed in the same order as ever: the same float totals
                    cand = m.replace(sym, letter)
                    score = scores.get(cand, _UNSCORED)
                    if score is _UNSCORED:
                        score = scores[cand] = _candidate_score(cand)
                    ok += score
                if ok > best_ok:
                    best, best_ok, best_usable = letter, ok, usable
            if best and best_ok >= max(0.5, min_share * best_usable):
                result.mapping[sym] = _choose_case(sym, best, toks)
                result.evidence[sym] = (best_ok, len(toks))
    return result


_UNSCORED = object()


@lru_cache(maxsize=1 << 16)
def _candidate_score(cand: str) -> Optional[float]:
    """How Vietnamese one candidate word is; None while it still holds a stray symbol.
    A known syllable outweighs a merely well-formed one: "Đ¢N" is ĐƠN, not ĐƯN."""
    if not _SUSPECTS.isdisjoint(cand):
        return None
    return (1.0 if _known(cand) else 0.6 * is_syllable(cand)) + 0.01 * token_ok(cand)


def _known(word: str) -> bool:
    """A syllable the post-correction language model has seen (either tone placement)."""
    from congvan.pipeline.postcorrect import is_known

    return is_known(word)


def _choose_case(sym: str, letter: str, toks: Iterable[str]) -> str:
    """Upper case when the symbol sits in all-caps words or starts a capitalised word."""
    up = low = 0
    for t in toks:
        i = t.index(sym)
        others = [c for c in t if c.isalpha()]
        if others and all(c.isupper() for c in others):
            up += 1
        elif i == 0 and others and all(c.islower() for c in others) and len(others) > 0:
            up += 1
        elif i > 0 and t[i - 1].islower():
            low += 1
        else:
            low += 1
    return letter.upper() if up > low else letter


_QUOTE_PAIR = re.compile(r"<(?=[^\W\d_])([^<>=]{1,400}?[^\s<>=])=(?![=<>\w])")


def repair_quote_pairs(text: str) -> tuple[str, int]:
    """'<' … '=' pairing around text, as the broken font renders “ … ”; lone < or = are left alone."""
    n = 0

    def sub(m: re.Match) -> str:
        nonlocal n
        n += 1
        return "\u201c" + m.group(1) + "\u201d"

    return _QUOTE_PAIR.sub(sub, text), n


def apply_symbol_map(text: str, mapping: dict[str, str]) -> tuple[str, int]:
    """Replace mapped symbols only where they touch a letter (keeps '30°C' style uses)."""
    out, n = [], 0
    for i, ch in enumerate(text):
        if ch in mapping:
            prev = text[i - 1] if i else ""
            nxt = text[i + 1] if i + 1 < len(text) else ""
            if (prev.isalpha() or prev in mapping) or (nxt.isalpha() or nxt in mapping):
                out.append(mapping[ch])
                n += 1
                continue
        out.append(ch)
    return "".join(out), n


@dataclass
class Repair:
    text: str
    changed: int
    kind: str  # "symbol-map" | "TCVN3" | "VNI" | ""
    detail: str
    before: float
    after: float


def repair_text(text: str, legacy_hint: str | None = None) -> Repair:
    """Best repair of one page's text by validity; `kind` is empty when nothing helped."""
    text = nfc(text)
    before = validity(text).score
    best = Repair(text, 0, "", "", before, before)
    smap = learn_symbol_map(text)
    if smap.mapping:
        fixed, n = apply_symbol_map(text, smap.mapping)
        fixed, q = repair_quote_pairs(fixed)
        after = validity(fixed).score
        if after > before:
            best = Repair(nfc(fixed), n + q, "symbol-map", smap.describe(), before, after)
    leg = best_legacy_decoding(text, legacy_hint)
    if leg.encoding and leg.after > best.after:
        changed = sum(1 for a, b in zip(text, leg.text) if a != b) + abs(len(text) - len(leg.text))
        best = Repair(leg.text, changed, leg.encoding, leg.encoding, before, leg.after)
    return best
