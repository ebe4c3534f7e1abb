"""Shared date and deadline parsing, plus the OCR-tolerant text view the reference, movement and
task extractors match on.

Why a view: seeds and OCR output carry systematic, *local* damage (legacy-font "°" for "ư",
"<…=" for quotes, word-initial "ứi"/"ữ" for "th"/"tr").  Repair is the pipeline's job, but the
extractors must not silently fail when it has not happened, so they match on a repaired copy and
map every offset back to the original text (provenance stays exact).  The substitutions are data
(`data/ref_text_view.json`) and each one is local, so a clean text passes through unchanged.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Optional

from .spans import NO_MARKS

_DATA = "data"
_WS = re.compile(r"\s+")


def load_json(name: str):
    """A rule table from extractors/data (UTF-8 JSON)."""
    text = resources.files("congvan.extractors").joinpath(_DATA, name).read_text(encoding="utf-8")
    return json.loads(unicodedata.normalize("NFC", text))


def load_lines(name: str) -> list[str]:
    text = resources.files("congvan.extractors").joinpath(_DATA, name).read_text(encoding="utf-8")
    return [unicodedata.normalize("NFC", line.strip()) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


@lru_cache(maxsize=1 << 14)
def fold(s: str) -> str:
    """Lower case, no diacritics (đ→d), single spaces: for tolerant comparison and keys.
    Memoised: table words and task texts are folded again by every caller."""
    s = unicodedata.normalize("NFD", s.lower().replace("đ", "d").replace("Đ", "d"))
    return _WS.sub(" ", s.translate(NO_MARKS)).strip()


def _fold_char(c: str) -> str:
    return (fold(c) or c)[:1] if c.strip() else c


class _FoldChars(dict):
    """str.translate table of `_fold_char`, filled per character on first sight."""

    def __missing__(self, cp: int) -> str:
        self[cp] = _fold_char(chr(cp))
        return self[cp]


_FOLD_CHARS = _FoldChars()


def fold_same_length(s: str) -> str:
    """`fold` one character for one character, so offsets in the folded text are the text's.
    A memoised per-character table applied by str.translate: fold() (NFD + regex) per character
    was 40 % of extraction, and a Python call per character still a few percent."""
    return s.translate(_FOLD_CHARS)


@lru_cache(maxsize=16)
def folded_text(text: str) -> str:
    """`fold_same_length` of a whole document view, computed once: references, movements and
    tasks all match on the folded view of the same text."""
    return fold_same_length(text)


_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,;:.)])")


def clean(s: str) -> str:
    """NFC, single spaces, no space before punctuation: how every output string leaves us."""
    # split/join and replace: as re.sub(r"\s+", " ") + strip + translate of the eth, several times faster
    s = " ".join(unicodedata.normalize("NFC", s).split()).replace("Ð", "Đ").replace("ð", "đ")
    return _SPACE_BEFORE_PUNCT.sub(r"\1", s)


# ---------------------------------------------------------------- the text view
@dataclass(frozen=True)
class View:
    """A repaired copy of a text with `idx[i]` = offset in the original of view character i."""

    text: str
    idx: list[int]

    def orig(self, i: int) -> int:
        return self.idx[min(max(i, 0), len(self.idx) - 1)]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) for view [start, end)."""
        if end <= start:
            s = self.orig(start)
            return s, s
        return self.orig(start), self.orig(end - 1) + 1


def _apply(text: str, idx: list[int], pattern: re.Pattern, repl: str) -> tuple[str, list[int]]:
    out, out_idx, pos = [], [], 0
    for m in pattern.finditer(text):
        out.append(text[pos:m.start()])
        out_idx.extend(idx[pos:m.start()])
        r = m.expand(repl)
        out.append(r)
        # spread the replacement over the original span: each new char maps to a source char
        span = idx[m.start():m.end()] or [idx[m.start()] if m.start() < len(idx) else idx[-1]]
        out_idx.extend(span[min(k, len(span) - 1)] for k in range(len(r)))
        pos = m.end()
    out.append(text[pos:])
    out_idx.extend(idx[pos:len(text)])
    return "".join(out), out_idx


@lru_cache(None)
def _view_rules() -> list[tuple[re.Pattern, str]]:
    return [(re.compile(r["pattern"]), r["replace"]) for r in load_json("ref_text_view.json")["rules"]]


def _nfc_with_map(text: str) -> tuple[str, list[int]]:
    """NFC of `text` and, per output char, the offset of the cluster it came from."""
    if unicodedata.is_normalized("NFC", text):
        return text, list(range(len(text)))
    out, idx, i, n = [], [], 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        part = unicodedata.normalize("NFC", text[i:j])
        out.append(part)
        idx.extend([i] * len(part))
        i = j
    return "".join(out), idx


@lru_cache(maxsize=16)
def make_view(text: str) -> View:
    """Shared, not copied: references, movements and tasks each view the same document text
    (and tables repeat cells), so the view is built once; nobody changes a View."""
    body, cur_idx = _nfc_with_map(text)
    for pat, repl in _view_rules():
        body, cur_idx = _apply(body, cur_idx, pat, repl)
    return View(body, cur_idx + [len(text)])


# ---------------------------------------------------------------- dates
_DMY = re.compile(r"(?<!\d)(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*((?:19|20)\d{2})(?!\d)")
_LONG = re.compile(
    r"ngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})\s+năm\s+((?:19|20)\d{2})", re.IGNORECASE)
DATE_AT = re.compile(
    r"\s*,?\s*(?:ngày\s*)?(?:(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*((?:19|20)\d{2})"
    r"|(\d{1,2})\s+tháng\s+(\d{1,2})\s+năm\s+((?:19|20)\d{2}))(?!\d)", re.IGNORECASE)


def iso(day: Optional[int], month: Optional[int], year: Optional[int]) -> Optional[str]:
    """ISO date, or YYYY-MM / YYYY when the day / month is unknown; None when impossible."""
    if not year or not (1900 <= int(year) <= 2100):
        return None
    if not month:
        return f"{int(year):04d}"
    if not 1 <= int(month) <= 12:
        return None
    if not day:
        return f"{int(year):04d}-{int(month):02d}"
    if not 1 <= int(day) <= 31:
        return None
    return f"{int(year):04d}-{int(month):02d}-{int(day):02d}"


def date_at(text: str, pos: int) -> Optional[tuple[str, int, int]]:
    """A date starting at `pos` (after optional ", ngày"): (iso, start, end) or None."""
    m = DATE_AT.match(text, pos)
    if not m:
        return None
    g = m.groups()
    d, mo, y = (g[0], g[1], g[2]) if g[0] else (g[3], g[4], g[5])
    value = iso(int(d), int(mo), int(y))
    if not value:
        return None
    s = m.start() + (len(m.group(0)) - len(m.group(0).lstrip(" \t\n,")))
    return value, s, m.end()


def find_dates(text: str) -> list[tuple[str, int, int]]:
    """Every full date in `text` (dd/mm/yyyy or "ngày d tháng m năm y")."""
    out = []
    for rx in (_DMY, _LONG):
        for m in rx.finditer(text):
            v = iso(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            if v:
                out.append((v, m.start(), m.end()))
    return sorted(out, key=lambda t: t[1])


_HEADER_DATE = re.compile(r"ngày\s*[^\n]{0,12}?tháng\s*(\d{1,2})?\s*năm\s*((?:19|20)\d{2})", re.IGNORECASE)
_YEAR = re.compile(r"(?<!\d)(20\d{2}|19\d{2})(?!\d)")


def document_year(text: str) -> Optional[int]:
    """The year the document speaks from: its place-date line, else the most frequent year in the
    first part of the text. Needed to turn "Quý I" into "2024-Q1"."""
    m = _HEADER_DATE.search(text[:4000])
    if m:
        return int(m.group(2))
    years = _YEAR.findall(text[:6000])
    if not years:
        return None
    counts: dict[str, int] = {}
    for y in years:
        counts[y] = counts.get(y, 0) + 1
    return int(max(counts, key=lambda y: (counts[y], y)))


_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4}
_QUARTER = re.compile(r"qu[ýy]\s+(IV|III|II|I|[1-4])\b(?:\s*(?:/|năm)\s*((?:19|20)\d{2}))?", re.IGNORECASE)
@lru_cache(None)
def _anchors(kind: str) -> str:
    """Alternation of the deadline phrases of one kind (data/deadline_anchors.tsv)."""
    words = [line.split("\t")[1] for line in load_lines("deadline_anchors.tsv") if line.split("\t")[0] == kind]
    return "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True))


@lru_cache(None)
def _deadline_rx() -> dict[str, re.Pattern]:
    d, m = _anchors("date"), _anchors("month")
    return {
        "date": re.compile(rf"(?:{d})[^.;\n]{{0,40}}?(?:ngày\s*)?(\d{{1,2}})\s*[/.\-]\s*(\d{{1,2}})\s*[/.\-]\s*((?:19|20)\d{{2}})",
                           re.IGNORECASE),
        "date_long": re.compile(rf"(?:{d}|trong)[^.;\n]{{0,40}}?ngày\s+(\d{{1,2}})\s+tháng\s+(\d{{1,2}})\s+năm\s+((?:19|20)\d{{2}})",
                                re.IGNORECASE),
        # "trước ngày 15/5", "trước 30/6" (no year: the document's; "… hằng năm" makes it recurring)
        "day_no_year": re.compile(rf"(?:{d})[^.;\n]{{0,30}}?(?:ngày\s*|(?<=\s))(\d{{1,2}})\s*/\s*(\d{{1,2}})(?!\d|\s*/\s*\d)",
                                  re.IGNORECASE),
        "day_no_year_long": re.compile(rf"(?:{d})[^.;\n]{{0,30}}?ngày\s+(\d{{1,2}})\s+tháng\s+(\d{{1,2}})(?!\d|\s+năm)",
                                       re.IGNORECASE),
        "month": re.compile(rf"(?:{m})[\s:]+(?:trong\s+)?tháng\s+(\d{{1,2}})\s*(?:/|năm)\s*((?:19|20)\d{{2}})", re.IGNORECASE),
        # "hoàn thành trong tháng 3" (no year: the document's)
        "month_no_year": re.compile(rf"(?:{m})[\s:]+(?:trong\s+)?tháng\s+(\d{{1,2}})(?![\d/]|\s*năm|\s*-)", re.IGNORECASE),
        # "Thời gian thực hiện: năm 2024", "Thời hạn hoàn thành: trong năm 2025"
        "year_line": re.compile(rf"(?:{_anchors('year')})\s*:\s*(?:trong\s+)?năm\s+((?:19|20)\d{{2}})(?![\d\s]*[-–/])",
                                re.IGNORECASE),
        "year": re.compile(r"(?:hoàn\s+thành|xong)\s+(?:trong|trước)\s+năm\s+((?:19|20)\d{2})", re.IGNORECASE),
    }


# "phong trào thi đua thường xuyên" / "khen thưởng thường xuyên" name a kind, not a schedule
_BY_YEAR_END = re.compile(r"(?:đến|trước)\s+(?:hết\s+|cuối\s+)+năm\s+((?:19|20)\d{2})", re.IGNORECASE)
_RECURRING = re.compile(r"(?<!thi đua )(?<!thưởng )(?<!thi đua, )thường\s+xuyên(?!,?\s+(?:chuyên đề|công hiến|cống hiến))"
                        r"|hằng\s+(?:năm|tháng|quý|tuần)|hàng\s+(?:năm|tháng|quý|tuần)|định\s+kỳ",
                        re.IGNORECASE)


# What each deadline pattern cannot match without (each a part of the pattern, flags included).
_NEEDS = {
    "d/m": re.compile(r"\d\s*[/.\-]\s*\d"),  # "15/3/2024", "15/3" (date, day_no_year)
    "tháng n": re.compile(r"tháng\s+\d", re.IGNORECASE),  # "ngày 15 tháng 3", "trong tháng 3"
    "year": re.compile(r"(?:19|20)\d{2}"),
}
_DEADLINE_NEEDS = {
    "date": ("d/m", "year"), "date_long": ("tháng n", "year"), "day_no_year": ("d/m",),
    "day_no_year_long": ("tháng n",), "month": ("tháng n", "year"), "month_no_year": ("tháng n",),
    "year_line": ("year",), "year": ("year",),
}


_ANNUAL = re.compile(r"\s*(?:của\s+)?(?:hằng|hàng)\s+(?:năm|tháng|quý)", re.IGNORECASE)
_CELL_DMY = re.compile(r"(?<!\d)(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*((?:19|20)\d{2})(?!\d)")
_CELL_MONTH = re.compile(r"(?:tháng\s*)?(?<![\d/])(\d{1,2})\s*/\s*((?:19|20)\d{2})(?!\d)|tháng\s+(\d{1,2})\s+năm\s+((?:19|20)\d{2})",
                         re.IGNORECASE)
_CELL_YEAR = re.compile(r"^\s*(?:trong\s+|cả\s+)?(?:năm\s+)?((?:19|20)\d{2})(?:\s*[-–]\s*((?:19|20)\d{2}))?\s*[.;]?\s*$",
                        re.IGNORECASE)


def parse_deadline_cell(cell: str, year: Optional[int] = None) -> Optional[str]:
    """A deadline column cell, where the whole cell is the deadline and needs no "trước"/"chậm nhất":
    parse_deadline first, then a bare date ("30/6/2024"; a range "Từ 01/3/2024 đến 30/6/2024" → its
    end), month ("Tháng 6/2024"), year ("Năm 2024", "2024 - 2025" → its end)."""
    v = parse_deadline(cell, year)
    if v:
        return v
    dates = [iso(int(d), int(mo), int(y)) for d, mo, y in _CELL_DMY.findall(cell)]
    dates = [d for d in dates if d]
    if dates:
        return dates[-1]
    months = [iso(None, int(a or c), int(b or d)) for a, b, c, d in _CELL_MONTH.findall(cell)]
    months = [x for x in months if x]
    if months:
        return months[-1]
    m = _CELL_YEAR.match(cell)
    if m:
        return m.group(2) or m.group(1)
    return None


def parse_deadline(text: str, year: Optional[int] = None, *, recurring: bool = True) -> Optional[str]:
    """A deadline stated in `text`: ISO date ("chậm nhất ngày 15/3/2024"), "YYYY-MM" (in month m),
    "YYYY-Qn" ("Quý I", year from the phrase or `year`), "recurring" ("thường xuyên", "định kỳ");
    None when nothing is stated.  Explicit dates win over quarters over "recurring"."""
    rx = _deadline_rx()
    # the anchored searches are slow (case-insensitive, tried at every offset) and most task texts
    # hold no date: each is run only when the digits it needs are there (a necessary condition)
    has = {need: bool(_NEEDS[need].search(text)) for need in ("d/m", "tháng n", "year")}

    def search(key: str) -> Optional[re.Match]:
        return rx[key].search(text) if all(has[n] for n in _DEADLINE_NEEDS[key]) else None

    for key in ("date", "date_long"):
        m = search(key)
        if m:
            v = iso(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            if v:
                return v
    for key in ("day_no_year", "day_no_year_long"):
        m = search(key)
        if m and year:
            if recurring and _ANNUAL.match(text, m.end()):
                return "recurring"  # "trước ngày 15/12 hằng năm"
            v = iso(int(m.group(1)), int(m.group(2)), year)
            if v:
                return v
    m = (_BY_YEAR_END.search(text) if has["year"] else None) or search("year") or search("year_line")
    if m:
        return m.group(1)
    m = search("month")
    if m:
        return iso(None, int(m.group(1)), int(m.group(2)))
    m = search("month_no_year")
    if m and year and not (recurring and _ANNUAL.match(text, m.end())):
        return iso(None, int(m.group(1)), year)
    m = _QUARTER.search(text)
    if m:
        q = m.group(1).upper()
        n = _ROMAN.get(q) or int(q)
        y = int(m.group(2)) if m.group(2) else year
        if y:
            return f"{y}-Q{n}"
    if recurring and _RECURRING.search(text):
        return "recurring"
    return None
