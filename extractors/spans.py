"""Shared helpers for extractors: the `Hit` type (value + span + method + confidence) and text utilities.

Extractors find values with plain regexes over `Document.text` and keep character offsets, so every
value becomes a `Provenance` (page via `Document.page_at`). spaCy's Matcher/Span was considered and
not used: the rules are line-anchored patterns over OCR-noisy text, where token-level matching buys
nothing and a tokenizer would split "1023/KH-UBND" in ways we would have to undo.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator, Optional

from congvan.pipeline.document import Document
from congvan.schemas.record import Provenance

# Confidence levels by kind of evidence, so they mean the same thing across extractors.
EXACT = 0.95  # anchored rule, text read as is
RULE = 0.85  # anchored rule with some clean-up (joining lines, stripping bullets)
REPAIRED = 0.7  # value repaired against a table (fuzzy province name, OCR-tolerant title)
INFERRED = 0.5  # not printed where expected; derived from other fields


@dataclass
class Hit:
    """One extracted value and where it came from in `Document.text`."""

    value: Any
    start: int
    end: int
    method: str
    confidence: float = RULE

    def prov(self, doc: Document) -> Provenance:
        return Provenance(
            page=doc.page_at(self.start), start=self.start, end=self.end,
            method=self.method, confidence=round(max(0.0, min(1.0, self.confidence)), 3),
        )


@dataclass
class Line:
    """A line of the document with its offsets; `text` is the raw line (no newline)."""

    text: str
    start: int
    end: int
    index: int

    @property
    def clean(self) -> str:
        return norm_ws(self.text)


def iter_lines(text: str, start: int = 0, end: Optional[int] = None) -> Iterator[Line]:
    end = len(text) if end is None else end
    pos, i = start, 0
    while pos <= end and pos < len(text):
        nl = text.find("\n", pos, end)
        stop = end if nl == -1 else nl
        yield Line(text[pos:stop], pos, stop, i)
        i += 1
        if nl == -1:
            break
        pos = nl + 1


def lines_of(text: str, start: int = 0, end: Optional[int] = None) -> list[Line]:
    return list(iter_lines(text, start, end))


# OCR and some fonts give the Icelandic eth for the Vietnamese đ: same glyph, different letter
ETH = str.maketrans({"Ð": "Đ", "ð": "đ"})


def norm_ws(s: str) -> str:
    """NFC and single spaces: what every comparison and every output string goes through."""
    # split/join and replace: the same result as re.sub(r"\s+", " ") + strip + translate(ETH), several
    # times faster on long text (str.translate with a dict costs ~60 ns a character)
    return " ".join(unicodedata.normalize("NFC", s).split()).replace("Ð", "Đ").replace("ð", "đ")


class _NoMarks(dict):
    """str.translate table deleting combining marks (category Mn), filled per character on first
    sight: a C-level translate instead of a Python test on every character."""

    def __missing__(self, cp: int):
        self[cp] = None if unicodedata.category(chr(cp)) == "Mn" else cp
        return self[cp]


NO_MARKS = _NoMarks()
_WS = re.compile(r"\s+")


@lru_cache(maxsize=1 << 14)
def fold(s: str) -> str:
    """Upper case without diacritics (Đ→D) and single spaces: for OCR-tolerant comparison.
    Memoised: signer and parties fold the same lines and table entries again and again."""
    s = unicodedata.normalize("NFD", s.upper().replace("Đ", "D").replace("đ", "D"))
    return _WS.sub(" ", s.translate(NO_MARKS)).strip()


def upper_ratio(s: str) -> float:
    """Share of letters that are upper case (header issuer/title lines are upper case)."""
    letters = "".join(filter(str.isalpha, s))
    if not letters:
        return 0.0
    return sum(map(str.isupper, letters)) / len(letters)


def strip_span(text: str, start: int, end: int, chars: str = " \t-–•+;.,:") -> tuple[int, int]:
    """Shrink [start, end) past leading/trailing `chars` and whitespace."""
    while start < end and (text[start] in chars or text[start].isspace()):
        start += 1
    while end > start and (text[end - 1] in chars or text[end - 1].isspace()):
        end -= 1
    return start, end


def cap_first(s: str) -> str:
    return s[:1].upper() + s[1:] if s else s


def title_syllables(s: str) -> str:
    """"ĐIỆN BIÊN" → "Điện Biên": place names capitalise every syllable."""
    return " ".join(w[:1].upper() + w[1:].lower() if w.isalpha() else w for w in s.split())
