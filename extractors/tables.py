"""Rule tables in `data/` loaded once: the rules are data (reviewable, testable) not literals in code.

Each file is UTF-8, one entry a line, `#` starts a comment line, TSV columns.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources


def _rows(name: str) -> list[list[str]]:
    text = resources.files("congvan.extractors").joinpath("data", name).read_text(encoding="utf-8")
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        out.append([unicodedata.normalize("NFC", c.strip()) for c in line.split("\t")])
    return out


@lru_cache(None)
def doc_types() -> list[tuple[str, str, str]]:
    """(code, upper-case title, name); longer titles first so BÁO CÁO ĐỀ XUẤT beats BÁO CÁO."""
    rows = [(r[0], r[1], r[2]) for r in _rows("doc_types.tsv")]
    return sorted(rows, key=lambda r: -len(r[1]))


@lru_cache(None)
def doc_type_codes() -> dict[str, str]:
    return {code: name for code, _, name in doc_types()}


@lru_cache(None)
def issuer_codes() -> dict[str, str]:
    return {r[0]: r[1] for r in _rows("issuer_codes.tsv")}


@lru_cache(None)
def bodies() -> list[tuple[str, str, str]]:
    """(upper prefix, cased, rest-kind), longest prefix first."""
    return sorted(((r[0], r[1], r[2]) for r in _rows("bodies.tsv")), key=lambda r: -len(r[0]))


@lru_cache(None)
def folded_bodies() -> tuple[str, ...]:
    """The body prefixes folded (spans.fold), in bodies() order: compared against on every
    upper-case signer line, so folded once."""
    from .spans import fold

    return tuple(fold(p) for p, _, _ in bodies())


@lru_cache(None)
def admin_units() -> list[tuple[str, str, str]]:
    """(upper word, cased, level), longest first so THỊ XÃ beats XÃ."""
    return sorted(((r[0], r[1], r[2]) for r in _rows("admin_units.tsv")), key=lambda r: -len(r[0]))


@lru_cache(None)
def central_markers() -> list[str]:
    return [r[0] for r in _rows("central_markers.txt")]


@lru_cache(None)
def signing_prefixes() -> list[tuple[str, re.Pattern]]:
    return [(r[0], re.compile(r[1])) for r in _rows("signing_prefixes.tsv")]


@lru_cache(None)
def signing_prefixes_loose() -> list[tuple[str, re.Pattern]]:
    """(prefix, pattern without the dot): "KT TỔ TRƯỞNG" when OCR lost the dot; a caller must check
    that a known title (or, after TM., a body) follows, since "TM"/"KT" alone are ordinary letters."""
    return [(r[0], re.compile(r[3])) for r in _rows("signing_prefixes.tsv") if len(r) > 3 and r[3]]


@lru_cache(None)
def titles() -> dict[str, str]:
    return {r[0]: r[1] for r in _rows("titles.tsv")}


@lru_cache(None)
def marks() -> list[tuple[str, str, str]]:
    """(kind, upper mark, value), longest first so THƯỢNG KHẨN beats KHẨN."""
    return sorted(((r[0], r[1], r[2]) for r in _rows("marks.tsv")), key=lambda r: -len(r[1]))


@lru_cache(None)
def surnames() -> frozenset[str]:
    return frozenset(r[0] for r in _rows("surnames.txt"))


@lru_cache(None)
def provinces() -> list[str]:
    return [r[0] for r in _rows("provinces.txt")]


@lru_cache(None)
def motto_patterns() -> list[re.Pattern]:
    return [re.compile(r[0]) for r in _rows("motto.txt")]


@lru_cache(None)
def ranks() -> list[str]:
    return sorted((r[0] for r in _rows("ranks.txt")), key=len, reverse=True)


@lru_cache(None)
def body_starts() -> list[str]:
    return [r[0] for r in _rows("body_starts.txt")]


@lru_cache(None)
def list_phrases() -> list[str]:
    return [r[0] for r in _rows("list_phrases.txt")]


@lru_cache(None)
def list_abbreviations() -> list[str]:
    return [r[0] for r in _rows("list_abbreviations.txt")]


@lru_cache(None)
def ocr_upper_confusions() -> dict[int, str]:
    """str.translate table: characters OCR puts inside upper-case words for the letter meant."""
    return str.maketrans({r[0]: r[1] for r in _rows("ocr_confusions.tsv")})


@lru_cache(None)
def middle_names() -> frozenset[str]:
    return frozenset(r[0] for r in _rows("middle_names.txt"))
