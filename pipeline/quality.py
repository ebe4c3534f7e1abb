"""Is this text Vietnamese? A syllable-inventory score used to judge text layers, repairs and OCR.

Vietnamese writes one syllable per token, and a syllable is onset + rhyme + tone with a small closed
inventory, so the share of tokens that parse as syllables separates real Vietnamese (≈0.9+) from
mojibake, legacy-font garbling and old bad OCR (≈0.3–0.7) without any downloaded word list.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

# Tone marks (removed to get the toneless syllable); vowel-quality marks (breve, circumflex, horn) stay.
_TONES = {"\u0300": "huyền", "\u0301": "sắc", "\u0303": "ngã", "\u0309": "hỏi", "\u0323": "nặng"}
_STOP_FINALS = ("p", "t", "c", "ch", "k")
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def _data_lines(name: str) -> list[str]:
    text = resources.files("congvan.pipeline").joinpath("data", name).read_text(encoding="utf-8")
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.extend(line.split())
    return out


@lru_cache(maxsize=1)
def _inventory() -> tuple[frozenset[str], tuple[str, ...], frozenset[str]]:
    rhymes = frozenset(unicodedata.normalize("NFC", r) for r in _data_lines("vi_rhymes.txt"))
    onsets = tuple(sorted(_data_lines("vi_onsets.txt"), key=len, reverse=True)) + ("",)
    abbrevs = frozenset(_data_lines("abbreviations.txt"))
    return rhymes, onsets, abbrevs


# The two tone-placement conventions differ only in open syllables ending in oa, oe, uy: the old style
# marks the first vowel (hòa, khỏe, thủy), the new one the second (hoà, khoẻ, thuỷ). Both are correct
# Vietnamese and documents use either, so text keeps its own; only *matching* folds them.
_TONE_MARK = "[\u0300\u0301\u0303\u0309\u0323]"
_WORD_GOES_ON = r"(?![^\W\d_]|[\u0300-\u036f])"  # the syllable ends here (no final, no further mark)
_OLD_PLACEMENT = re.compile(rf"(?<![qQ])(?:([oO])({_TONE_MARK})([aAeE])|([uU])({_TONE_MARK})([yY])){_WORD_GOES_ON}")


def _to_new(m: re.Match) -> str:
    v1, tone, v2 = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(4), m.group(5), m.group(6))
    return v1 + v2 + tone


def _to_old(m: re.Match) -> str:
    v1, v2, tone = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(4), m.group(5), m.group(6))
    return v1 + tone + v2


def tone_key(text: str) -> str:
    """Matching key: NFC with the tone of oa/oe/uy moved to the new-style place, so "hòa" and "hoà",
    "thủy" and "thuỷ" compare equal. For comparing and indexing only; never written back."""
    return unicodedata.normalize("NFC", _OLD_PLACEMENT.sub(_to_new, unicodedata.normalize("NFD", text)))


_NEW_PLACEMENT = re.compile(rf"(?<![qQ])(?:([oO])([aAeE])({_TONE_MARK})|([uU])([yY])({_TONE_MARK})){_WORD_GOES_ON}")


def old_tone_style(text: str) -> str:
    """The inverse of `tone_key`'s move: "hoà" → "hòa" (to write a correction in a text's own style)."""
    return unicodedata.normalize("NFC", _NEW_PLACEMENT.sub(_to_old, unicodedata.normalize("NFD", text)))


def uses_old_tone_style(text: str) -> bool:
    """True when `text` places oa/oe/uy tones mostly the old way (hòa) rather than the new (hoà)."""
    nfd = unicodedata.normalize("NFD", text)
    return len(_OLD_PLACEMENT.findall(nfd)) > len(_NEW_PLACEMENT.findall(nfd))


@lru_cache(maxsize=100_000)
def split_tone(syllable: str) -> tuple[str, str | None]:
    """(toneless lowercase syllable, tone name or None); None as base if two tones are present.
    Cached: post-correction splits the same candidate syllables over and over."""
    tones = []
    base = []
    for ch in unicodedata.normalize("NFD", syllable.lower()):
        if ch in _TONES:
            tones.append(_TONES[ch])
        else:
            base.append(ch)
    if len(tones) > 1:
        return "", None
    return unicodedata.normalize("NFC", "".join(base)), (tones[0] if tones else None)


@lru_cache(maxsize=200_000)
def is_syllable(token: str) -> bool:
    """True when `token` (any case) is a well-formed Vietnamese syllable."""
    if not token or len(token) > 8:
        return False
    base, tone = split_tone(token)
    if not base:
        return False
    rhymes, onsets, _ = _inventory()
    for onset in onsets:
        if not base.startswith(onset):
            continue
        rhyme = base[len(onset):]
        if onset == "gi" and rhyme == "":
            return True  # gì, gí
        if rhyme in rhymes:
            if rhyme.endswith(_STOP_FINALS) and tone not in ("sắc", "nặng"):
                continue
            if onset == "qu" and rhyme.startswith(("u", "o")):
                continue
            return True
    return False


def _is_code(token: str) -> bool:
    """All-caps codes and abbreviations (UBND, HĐND, PC06, C04) and plain numbers."""
    if token.isdigit():
        return True
    letters = [c for c in token if not c.isdigit()]
    if not letters:
        return True
    return all(c.isupper() for c in letters) and len(token) <= 10


@dataclass
class Validity:
    score: float  # fraction of counted tokens that are syllables, codes, numbers or known abbreviations
    counted: int
    valid: int
    bad: list[str]

    def __str__(self) -> str:
        return f"{self.score:.2f}"


def validity(text: str, keep_bad: int = 20) -> Validity:
    """Score how much of `text` reads as Vietnamese; single letters (list markers) are not counted."""
    _, _, abbrevs = _inventory()
    counted = valid = 0
    bad: list[str] = []
    text = unicodedata.normalize("NFC", text)
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        if len(tok) == 1 and not tok.isdigit():
            continue
        counted += 1
        if token_ok(tok):
            valid += 1
        elif len(bad) < keep_bad:
            bad.append(tok)
    return Validity(valid / counted if counted else 0.0, counted, valid, bad)


_FOOTNOTE = re.compile(r"^(\D+?)\d{1,2}$")


def token_ok(tok: str) -> bool:
    """One token's verdict: a syllable, a code/number, a known abbreviation, or a syllable with a footnote digit."""
    _, _, abbrevs = _inventory()
    if is_syllable(tok) or _is_code(tok) or tok in abbrevs:
        return True
    m = _FOOTNOTE.match(tok)
    return bool(m) and is_syllable(m.group(1))
