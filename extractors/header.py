"""Header fields of a dispatch: number/symbol, place and date, document type, issuer, subject, marks.

Why rules and not NLP: every header field sits at a fixed anchor that Nghị định 30/2020 prescribes
("Số:", "<Place>, ngày … tháng … năm …", the upper-case title, "V/v"), and the text around them is
often OCR noise where a tagger guesses (underthesea tags "số 30/2020" as LOC). So numbers, symbols
and dates come out with anchored regexes that keep character offsets; tables in `data/` say which
words mean what (types, bodies, administrative units, marks).

The same code reads three text shapes without special cases:
  (a) a born-digital layer where the two header columns share a line
      ("ỦY BAN NHÂN DÂN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM") — the motto, the number and the
      place-date are *cut out of* a line as segments, and what is left is read as the issuer;
  (b) OCR text with the columns as blocks in either order — each rule finds its own anchor;
  (c) seed-like text that starts mid-header or is noisy — anchors are OCR-tolerant
      ("SỐ:^/UBND-NCKS", "Lâm Đông. ngày 9K tháng"), and an unreadable day or month is unknown
      (never a guessed digit).

Issuer decision: `name` is the issuing body as printed on its own line(s), cased and with issuer
abbreviations expanded ("ỦY BAN NHÂN DÂN / TỈNH ĐIỆN BIÊN" → "Ủy ban nhân dân tỉnh Điện Biên";
"UBND TỈNH LÂM ĐỒNG / SỞ NỘI VỤ" → "Sở Nội vụ"); `level` and `locality` come from its own line or,
when it names none, from the governing line above; `parent` is that governing line as printed,
cased, abbreviations kept ("UBND tỉnh Lâm Đồng"), as the schema's comment describes. So a
department's record reads name "Sở Nội vụ", level "tỉnh", locality "Lâm Đồng".
When no issuer lines were printed/kept (text starting at "Số:"), the issuer is *inferred* from the
symbol's issuer code, the place and the body's self-reference ("UBND tỉnh …") with low confidence.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from rapidfuzz import fuzz

from congvan.pipeline.document import Document

from . import tables
from .spans import (EXACT, INFERRED, REPAIRED, RULE, Hit, Line, cap_first, fold, lines_of, norm_ws,
                    strip_span, title_syllables, upper_ratio)

HEADER_LINES = 60  # the header never runs longer than this many lines of page 1
HEADER_CHARS = 5000

# "Số: 1023/KH-UBND", "SỐ:^/UBND-NCKS", "Só#t2đ# /UBND-NC", "Số:           /UBND-VXNV"
NUMBER_RE = re.compile(
    r"(?<!\w)S[ốỐóÓôÔồỒoO6ổỔõỏọ][ \t]*[:;.]?(?P<mid>[^\n]{0,14}?)/[ \t]*"
    r"(?P<sym>[A-ZĐ0-9][A-Za-zĐđ0-9]*(?:[/\-–][A-Za-zĐđ0-9&.]+|\([A-Za-zĐđ0-9]+\))*)"
)
# ", ngày 10 tháng 01 năm 2024" — the place is read back from the same line
DATE_RE = re.compile(
    r"[ \t]*[,.][ \t]*ng[àa]y(?P<d>[^\n]{0,8}?)th[^\W\d_]{1,2}ng(?P<m>[^\n]{0,8}?)n[ăãaâắằẳẵặấầẩẫậ][mn][ \t]*(?P<y>(?:19|20)\d\d)"
)
SUBJECT_RE = re.compile(r"^[ \t(]*(?:V[ \t]?[/#\\|!ýÿ][ \t]?[vV]|v/v|[VvV]ề[ \t]+việc|VỀ[ \t]+VIỆC)\b[ \t]*[:.]?[ \t]*")
BULLET_RE = re.compile(r"^[\s\-–—_•+*|.]+")


@dataclass
class Header:
    hits: dict[str, Hit] = field(default_factory=dict)  # field path → hit

    def value(self, key: str):
        h = self.hits.get(key)
        return None if h is None else h.value


# ---------------------------------------------------------------- segments

def motto_spans(text: str) -> list[tuple[int, int]]:
    out = []
    for pat in tables.motto_patterns():
        out += [(m.start(), m.end()) for m in pat.finditer(text)]
    return out


def _cut(line: Line, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of `line` outside `spans` (absolute offsets), as (start, end) pairs."""
    parts, pos = [], line.start
    for s, e in sorted(spans):
        if e <= line.start or s >= line.end:
            continue
        if s > pos:
            parts.append((pos, s))
        pos = max(pos, e)
    if pos < line.end:
        parts.append((pos, line.end))
    return parts


def header_zone(doc: Document) -> list[Line]:
    """The first HEADER_LINES non-empty lines (at most HEADER_CHARS) — where every header anchor
    lives. Not cut at the end of page 1: a scan's first page may carry only a one-line digital-copy
    stamp ("SAO Y; …") ahead of the real first page."""
    end = min(len(doc.text), HEADER_CHARS)
    out, n = [], 0
    for ln in lines_of(doc.text, 0, end):
        out.append(ln)
        n += bool(ln.text.strip())
        if n >= HEADER_LINES:
            break
    return out


def is_body_start(s: str) -> bool:
    s = norm_ws(s)
    return any(s.startswith(w) for w in tables.body_starts()) or bool(re.match(r"^(?:[IVX]+|\d+)\.\s", s))


# ---------------------------------------------------------------- number / symbol

def find_number(doc: Document, zone: list[Line]) -> tuple[Optional[Hit], Optional[Hit]]:
    """(number, symbol) from the first "Số: …/SYMBOL" in the header zone."""
    text = doc.text
    end = zone[-1].end if zone else 0
    for m in NUMBER_RE.finditer(text, 0, end):
        sym = m.group("sym").rstrip(".,;:")
        if sym.count("(") < sym.count(")"):
            sym = sym.rstrip(")")
        if not re.search(r"[A-ZĐ]", sym):
            continue
        s_start = m.start("sym")
        symbol = Hit(sym, s_start, s_start + len(sym), "regex:number", EXACT)
        mid = m.group("mid").strip(" \t:;.^#*'\"`“”")
        number = None
        party = re.fullmatch(r"(\d{1,6})[ \t]*[-–][ \t]*([A-ZĐ]{1,6})", mid)
        if party and int(party.group(1)) > 0:
            # Party numbering "Số 28-CT/TU": the type code sits before the slash; the symbol is "CT/TU"
            ms = m.start("mid") + m.group("mid").index(mid)
            cs = ms + party.start(2)
            symbol = Hit(f"{party.group(2)}/{sym}", cs, s_start + len(sym), "regex:number_party", EXACT)
            number = Hit(f"{party.group(1)}-{party.group(2)}/{sym}", ms, s_start + len(sym), "regex:number_party", EXACT)
            return number, symbol
        year = re.match(r"((?:19|20)\d\d)/(?=[A-ZĐ])", sym)
        if year and re.fullmatch(r"\d{1,6}", mid):
            # "Số: 15/2024/TT-BGDĐT": the year belongs to the number; the symbol is "TT-BGDĐT"
            rest = sym[year.end():]
            cs = s_start + year.end()
            ms = m.start("mid") + m.group("mid").index(mid)
            return (Hit(f"{mid}/{year.group(1)}/{rest}", ms, cs + len(rest), "regex:number_year", EXACT),
                    Hit(rest, cs, cs + len(rest), "regex:number_year", EXACT))
        fixed = repair_symbol(sym)
        if fixed != sym:
            symbol = Hit(fixed, s_start, s_start + len(sym), "regex:number+ocr_digits", REPAIRED)
        if re.fullmatch(r"\d{1,6}", mid) and int(mid) > 0:
            ms = m.start("mid") + m.group("mid").index(mid)
            number = Hit(f"{mid}/{symbol.value}", ms, s_start + len(sym), symbol.method, symbol.confidence)
        elif not mid:
            number = _number_above(doc, m.start(), symbol)
        return number, symbol
    # OCR lost the slash of a blank number: "Số: UBND-NV" (the symbol alone, no digit before it)
    m = NO_SLASH_RE.search(text, 0, end)
    if m:
        sym = m.group("sym")
        return None, Hit(sym, m.start("sym"), m.end("sym"), "regex:number_no_slash", REPAIRED)
    return None, None


NO_SLASH_RE = re.compile(
    r"(?<!\w)S[ốỐ][ \t]*:[ \t]*(?P<sym>[A-ZĐ]{2,}[A-Za-zĐđ0-9]*(?:[\-–][A-ZĐ][A-Za-zĐđ0-9]*)+)(?=[ \t]|$)",
    re.MULTILINE)


def repair_symbol(sym: str) -> str:
    """OCR'd "1" inside a symbol: "UBND-NCI" → "UBND-NC1", "KH-UBNDl" → "KH-UBND1".

    A unit code is the initials of its words and almost no Vietnamese word starts with "I", so an
    "I" (or any "l") closing a 2–4 letter code segment is a misread digit; segments that are codes
    of their own (types, issuers, Roman numerals) are left alone."""
    known = set(tables.doc_type_codes()) | set(tables.issuer_codes())
    parts = re.split(r"([\-–/().])", sym)
    out = []
    for p in parts:
        if (p not in known and re.fullmatch(r"[A-ZĐ]{2,4}[Il]\d?", p)
                and not re.fullmatch(r"[IVXLC]+", p)):
            p = p[:-1] + "1" if p[-1] in "Il" else p[:-2] + "1" + p[-1]
        elif re.fullmatch(r"\d+l\d*|l\d+", p):
            p = p.replace("l", "1")
        out.append(p)
    return "".join(out)


def _number_above(doc: Document, pos: int, symbol: Hit) -> Optional[Hit]:
    """A number stamped by an e-office system can land on its own line right above a blank "Số:"."""
    before = doc.text[:pos].rstrip(" \t")
    if not before.endswith("\n"):
        return None  # "Số:" is not at a line start
    prev = before[:-1].rsplit("\n", 1)[-1]
    m = re.fullmatch(r"[ \t]*(\d{1,6})[ \t]*", prev)
    if not m or int(m.group(1)) == 0:
        return None
    s = len(before) - 1 - len(prev) + m.start(1)
    return Hit(f"{m.group(1)}/{symbol.value}", s, symbol.end, "regex:number_line_above", REPAIRED)


# ---------------------------------------------------------------- place / date

@dataclass
class DateHit:
    place: Optional[Hit]
    date: Optional[Hit]
    span: tuple[int, int]


# OCR reads a printed "1" as l, I, |, ¡ or ! and "0" as O/o; only inside a 1–2 character number
OCR_DIGITS = str.maketrans({"l": "1", "I": "1", "|": "1", "¡": "1", "!": "1", "O": "0", "o": "0"})


def _num(tok: str, lo: int, hi: int) -> tuple[Optional[int], bool]:
    """(value, readable): blank → (None, True); digits in range → value; anything else unreadable."""
    t = tok.strip(" \t'‘’`\"")
    if not t:
        return None, True
    if re.fullmatch(r"\d{1,2}", t) and lo <= int(t) <= hi:
        return int(t), True
    return None, False


def _num_ocr(tok: str, lo: int, hi: int) -> tuple[Optional[int], bool, bool]:
    """`_num`, then the OCR digit confusions ("¡2" → 12, "O3" → 3) when the token keeps at least one
    real digit (a lone "l" stays unreadable: no guess): (value, readable, repaired)."""
    v, ok = _num(tok, lo, hi)
    if v is not None or ok:
        return v, ok, False
    t = tok.strip(" \t'‘’`\"")
    if len(t) <= 2 and re.search(r"\d", t):
        fixed = t.translate(OCR_DIGITS)
        v, ok = _num(fixed, lo, hi)
        if v is not None:
            return v, True, True
    return None, False, False


def find_place_date(doc: Document, zone: list[Line]) -> Optional[DateHit]:
    """The first "<Place>, ngày … tháng … năm …" line: the only source of place and issued_date."""
    text = doc.text
    end = zone[-1].end if zone else 0
    for m in DATE_RE.finditer(text, 0, end):
        line_start = text.rfind("\n", 0, m.start()) + 1
        place = _place_before(text, line_start, m.start())
        if place is None:
            continue
        d, _, d_fix = _num_ocr(m.group("d"), 1, 31)
        mo, _, mo_fix = _num_ocr(m.group("m"), 1, 12)
        y = m.group("y")
        if mo is None:
            iso = y
        elif d is None:
            iso = f"{y}-{mo:02d}"
        else:
            iso = f"{y}-{mo:02d}-{d:02d}"
        conf = EXACT if len(iso) == 10 or not (m.group("d").strip() or m.group("m").strip()) else RULE
        method = "regex:place_date"
        if d_fix or mo_fix:
            conf, method = REPAIRED, "regex:place_date+ocr_digits"
        date = Hit(iso, m.start() + len(m.group(0)) - len(m.group(0).lstrip(" \t,.")), m.end(), method, conf)
        date.start = m.start() + m.group(0).find("ng")
        return DateHit(place, date, (place.start, m.end()))
    # "<Place>, ngày 05/3/2024": the numeric form some offices print
    for m in DATE_NUM_RE.finditer(text, 0, end):
        line_start = text.rfind("\n", 0, m.start()) + 1
        place = _place_before(text, line_start, m.start())
        if place is None:
            continue
        from .dates import iso as iso_date
        value = iso_date(int(m.group("d")), int(m.group("m")), int(m.group("y")))
        if not value:
            continue
        date = Hit(value, m.start() + m.group(0).find("ng"), m.end(), "regex:place_date_numeric", EXACT)
        return DateHit(place, date, (place.start, m.end()))
    return None


DATE_NUM_RE = re.compile(
    r"[ \t]*,[ \t]*ng[àa]y[ \t]*(?P<d>\d{1,2})[ \t]*[/.\-][ \t]*(?P<m>\d{1,2})[ \t]*[/.\-][ \t]*(?P<y>(?:19|20)\d\d)(?!\d)")


def _place_before(text: str, line_start: int, pos: int) -> Optional[Hit]:
    """Trailing run of capitalised words before ", ngày": "Số: /BNV-CCHC Hà Nội" → "Hà Nội"."""
    seg = text[line_start:pos]
    words = list(re.finditer(r"\S+", seg))
    run: list[re.Match] = []
    for w in reversed(words):
        tok = w.group(0)
        if not run and re.fullmatch(r"\d{1,2}", tok):
            run.insert(0, w)  # "Quận 3, ngày …": a numbered unit; kept only with its unit word below
            continue
        if re.fullmatch(r"[^\W\d_][^\W\d_]*\.?", tok) and tok[0].isupper() and len(run) < 5:
            run.insert(0, w)
        else:
            break
    # Cut upper-case-only words at the front (motto/issuer spill-over: "VIỆT NAM Hà Nội")
    while run and len(run) > 1 and run[0].group(0).isupper() and not run[-1].group(0).isupper() \
            and not run[0].group(0).endswith("."):  # keep "TP." in "TP. Hồ Chí Minh"
        run.pop(0)
    if run and run[-1].group(0).isdigit() and (len(run) < 2 or fold(run[-2].group(0)) not in ("QUAN", "PHUONG")):
        run.pop()
    if not run:
        return None
    s, e = line_start + run[0].start(), line_start + run[-1].end()
    raw = norm_ws(text[s:e])
    if raw.isupper() and len(raw) > 3:
        raw = title_syllables(raw)
    value, conf = repair_locality(raw)
    return Hit(value, s, e, "regex:place_date" + ("+province_table" if value != raw else ""), conf)


def repair_locality(raw: str) -> tuple[str, float]:
    """OCR'd province names ("Lâm Đông", "LÂM ĐỎNG") repaired against the province table when the
    letters without diacritics agree, or nearly agree, with exactly one province."""
    cands = tables.provinces()
    if raw in cands:
        return raw, EXACT
    f = fold(raw)
    same = [p for p in cands if fold(p) == f]
    if len(same) == 1:
        return same[0], REPAIRED
    scored = sorted(((fuzz.ratio(fold(p), f), p) for p in cands), reverse=True)
    if scored and scored[0][0] >= 90 and (len(scored) == 1 or scored[1][0] < scored[0][0]):
        return scored[0][1], REPAIRED
    return raw, EXACT


# ---------------------------------------------------------------- title / doc type

def _segments(line: Line, cuts: list[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    out = []
    for s, e in _cut(line, cuts):
        # split on runs of 2+ spaces/tabs: column gaps in OCR/plain text
        pos = s
        for m in re.finditer(r"[ \t]{2,}|\t", text[s:e]):
            out.append((pos, s + m.start()))
            pos = s + m.end()
        out.append((pos, e))
    return [strip_span(text, a, b, " \t-–—_|•") for a, b in out if text[a:b].strip()]


def _upper_tail(text: str, s: int, e: int) -> Optional[tuple[int, int]]:
    """The trailing run of all-upper-case words in text[s:e]."""
    words = list(re.finditer(r"\S+", text[s:e]))
    run = []
    for w in reversed(words):
        tok = w.group(0).strip(":")
        if tok and all(c.isalpha() for c in tok) and tok.isupper():
            run.insert(0, w)
        else:
            break
    if not run:
        return None
    return s + run[0].start(), s + run[-1].end()


def match_doc_type_title(s: str) -> Optional[str]:
    """Doc-type code of an upper-case title ("KẾ HOẠCH", OCR "KÉ HOẠCH" too): diacritics-free match."""
    f = fold(s)
    for code, title, _ in tables.doc_types():
        t = fold(title)
        if f == t or f.endswith(" " + t) and len(f) - len(t) <= 12:
            return code
    return None


def find_title(doc: Document, zone: list[Line], cuts: list[tuple[int, int]]) -> Optional[Hit]:
    text = doc.text
    for ln in zone:
        if is_body_start(ln.text):
            break
        for s, e in _segments(ln, cuts, text):
            if text[s:e].rstrip().endswith(":"):
                continue  # "QUYẾT ĐỊNH:" opens the operative part, not the title
            tail = _upper_tail(text, s, e)
            if not tail:
                continue
            code = match_doc_type_title(text[tail[0]:tail[1]])
            if code:
                exact = norm_ws(text[tail[0]:tail[1]]) in {t for _, t, _ in tables.doc_types()}
                return Hit(code, tail[0], tail[1], "title_table", EXACT if exact else REPAIRED)
    return None


def decide_doc_type(title: Optional[Hit], symbol: Optional[Hit], subject_is_vv: bool) -> Optional[Hit]:
    """Title line first; a symbol code that refines it (BC → BCĐX) wins; then the symbol's first part;
    then "CV" (công văn has no code of its own: its symbol starts with the issuer, or it has a V/v)."""
    codes = tables.doc_type_codes()
    first = re.split(r"[-/(]", symbol.value)[0] if symbol else None
    if title:
        if first and first in codes and first != title.value and first.startswith(title.value):
            return Hit(first, symbol.start, symbol.start + len(first), "symbol_refines_title", RULE)
        return title
    if first and first in codes:
        return Hit(first, symbol.start, symbol.start + len(first), "symbol_type_code", RULE)
    if symbol and first and not first.isdigit():
        return Hit("CV", symbol.start, symbol.end, "symbol_without_type_code", RULE)
    if subject_is_vv:
        return Hit("CV", -1, -1, "vv_subject", RULE)
    return None


# ---------------------------------------------------------------- issuer

def expand_codes(upper: str) -> str:
    """"UBND TỈNH LÂM ĐỒNG" → "ỦY BAN NHÂN DÂN TỈNH LÂM ĐỒNG" (issuer abbreviations table)."""
    codes = tables.issuer_codes()
    return " ".join(codes.get(w, w) for w in upper.split())


def split_locality(upper: str) -> tuple[str, Optional[tuple[str, str, str]]]:
    """"ỦY BAN NHÂN DÂN TỈNH ĐIỆN BIÊN" → ("ỦY BAN NHÂN DÂN", ("tỉnh", "tỉnh", "Điện Biên"))."""
    words = upper.split()
    for i in range(len(words)):
        rest = " ".join(words[i:])
        for word, cased, level in tables.admin_units():
            if rest == word or rest.startswith(word + " "):
                loc = rest[len(word):].strip()
                if re.match(r"HỘI\b", loc) and word == "XÃ":
                    continue  # "LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI": society, not a commune
                if re.match(r"(?:ỦY|UỶ|UY)\b", loc):
                    # Party committee "TỈNH ỦY BẮC NINH": the unit word is part of the body's name
                    loc = loc.split(None, 1)[1] if " " in loc else ""
                    if loc:
                        loc_cased, _ = repair_locality(title_syllables(loc))
                        return " ".join(words[:i + len(word.split()) + 1]), ("", level, loc_cased)
                    return upper, None
                if loc.isdigit():  # "QUẬN 3": the unit's name is its number
                    return " ".join(words[:i]), ("", level, f"{cased[:1].upper()}{cased[1:]} {loc}")
                if loc:
                    loc_cased, _ = repair_locality(title_syllables(loc))
                    return " ".join(words[:i]), (cased, level, loc_cased)
    return upper, None


def _is_acronym(w: str) -> bool:
    return w in tables.issuer_codes() or not re.search(r"[AEIOUYĂÂÊÔƠƯ]", fold(w))


def case_body(upper: str) -> str:
    """Sentence-case an upper-case body name by the bodies table: "SỞ NỘI VỤ" → "Sở Nội vụ".

    Prefixes match without diacritics so OCR's "TỎ CÔNG TÁC" still reads as "Tổ công tác"."""
    u = norm_ws(upper)
    fu = fold(u)
    for prefix, cased, kind in tables.bodies():
        fp = fold(prefix)
        if fu == fp or fu.startswith(fp + " "):
            n = len(prefix.split())
            rest_words = u.split()[n:]
            if kind == "full" or not rest_words:
                return cased if not rest_words else f"{cased} {' '.join(w.lower() for w in rest_words)}"
            rest = " ".join(w if _is_acronym(w) else w.lower() for w in rest_words)
            if kind == "proper":
                # each field a body is named after starts with a capital (Nghị định 30/2020, Phụ
                # lục II): "Sở Giáo dục và Đào tạo", "Bộ Lao động - Thương binh và Xã hội"
                rest = re.sub(r"(^|\bvà |, |- )(\w)", lambda m: m.group(1) + m.group(2).upper(), rest)
            return f"{cased} {rest}"
    return cap_first(" ".join(w if _is_acronym(w) else w.lower() for w in u.split()))


@dataclass
class Body:
    name: str  # cased, abbreviations expanded, without locality
    unit: Optional[tuple[str, str, str]]  # (cased unit word, level, locality)
    start: int
    end: int
    printed: str = ""  # cased as printed, abbreviations kept ("UBND tỉnh Lâm Đồng")

    @property
    def full(self) -> str:
        return norm_ws(f"{self.name} {self.unit[0]} {self.unit[2]}") if self.unit else self.name


def _repair_squeezed(upper: str) -> str:
    """"BỘ CÔNGAN" → "BỘ CÔNG AN": a body name whose words OCR glued, repaired against the bodies
    table (the whole name, or a one-word ministry/department prefix + a table body)."""
    squeezed = upper.replace(" ", "")
    for prefix, _, _ in tables.bodies():
        for full in (prefix, "BỘ " + prefix):
            if squeezed == full.replace(" ", "") and upper != full:
                return full
    return upper


def parse_body(upper: str, start: int, end: int) -> Body:
    raw = _repair_squeezed(norm_ws(upper))
    name, unit = split_locality(_repair_squeezed(expand_codes(raw)))
    raw_name, raw_unit = split_locality(raw)
    printed = case_body(raw_name) if raw_name else ""
    if raw_unit:
        printed = norm_ws(f"{printed} {raw_unit[0]} {raw_unit[2]}")
    return Body(case_body(name) if name else "", unit, start, end, printed)


def find_issuer_lines(doc: Document, zone: list[Line], cuts: list[tuple[int, int]], stop: int) -> list[tuple[str, int, int]]:
    """Upper-case segments above the number line (or the title): the issuing-body lines."""
    text = doc.text
    out = []
    for ln in zone:
        if ln.start >= stop:
            break
        for s, e in _segments(ln, cuts, text):
            seg = text[s:e].strip(" _.|,;:'\"")  # OCR debris around a line: ": BỘ CÔNG AN"
            numbered_unit = re.search(r"\b(?:QUẬN|PHƯỜNG)\s+\d{1,2}$", norm_ws(seg))  # "UBND QUẬN 3"
            if (re.search(r"[\d;:/@]", seg) and not numbered_unit) or upper_ratio(seg) < 0.9 \
                    or sum(c.isalpha() for c in seg) < 2:
                continue
            if match_doc_type_title(seg) and fold(seg) in {fold(t) for _, t, _ in tables.doc_types()}:
                continue
            if mark_of(seg):
                continue  # "KHẨN" / "HỎA TỐC" stamped between the header lines is not a body
            raw = norm_ws(seg)
            seg = raw.strip(" _.-–|,;:'\"")  # stamp / rule debris: "BỘ CÔNGAN _."
            if not seg:
                continue
            if out and (re.match(r"(?:VÀ|[-–&,])\s", raw) or re.search(r"(?:\sVÀ|[-–&,])$", out[-1][3])):
                # a name wrapped over two lines: "SỞ LAO ĐỘNG - THƯƠNG BINH" / "VÀ XÃ HỘI"
                prev, ps, _, _ = out[-1]
                out[-1] = (f"{prev} {seg}", ps, e, raw)
                continue
            out.append((seg, s, e, raw))
    return [(seg, s, e) for seg, s, e, _ in out[-3:]]


def _is_central(upper: str) -> bool:
    f = " " + fold(upper) + " "
    return any(" " + fold(m) + " " in f for m in tables.central_markers())


def compose_issuer(lines: list[tuple[str, int, int]]) -> dict[str, Hit]:
    """Issuer lines → name/level/locality/parent hits (see module docstring for the decision)."""
    bodies: list[Body] = []
    raw_upper: list[str] = []
    for seg, s, e in lines:
        body = parse_body(seg, s, e)
        if not body.name and body.unit and bodies:
            # "TỈNH ĐIỆN BIÊN" under "ỦY BAN NHÂN DÂN": one body over two lines
            prev = bodies[-1]
            bodies[-1] = Body(prev.name, body.unit, prev.start, e, f"{prev.printed} {body.printed}".strip())
            raw_upper[-1] += " " + seg
            continue
        bodies.append(body)
        raw_upper.append(seg)
    bodies = [b for b in bodies if b.name or b.unit]
    if not bodies:
        return {}
    issuer, parent = bodies[-1], (bodies[-2] if len(bodies) > 1 else None)
    hits = {"issuer.name": Hit(issuer.full, issuer.start, issuer.end, "issuer_lines", RULE)}
    unit = issuer.unit or (parent.unit if parent else None)
    if unit:
        src = issuer if issuer.unit else parent
        hits["issuer.level"] = Hit(unit[1], src.start, src.end, "admin_units_table", RULE)
        hits["issuer.locality"] = Hit(unit[2], src.start, src.end, "issuer_lines", RULE)
    elif _is_central(" ".join(raw_upper)):
        hits["issuer.level"] = Hit("trung ương", issuer.start, issuer.end, "central_markers", RULE)
    if parent:
        hits["issuer.parent"] = Hit(parent.printed or parent.full, parent.start, parent.end, "issuer_lines", RULE)
    return hits


def infer_issuer(doc: Document, symbol: Optional[Hit], place: Optional[Hit]) -> dict[str, Hit]:
    """No issuer lines in the text: the symbol's issuer code (…-UBND) + the body's self-reference
    ("UBND tỉnh", "Ủy ban nhân dân huyện") for the level + the place for the locality."""
    if not symbol:
        return {}
    codes = tables.issuer_codes()
    parts = re.split(r"[-–(]", symbol.value)
    code = next((p for p in parts[1:] + parts[:1] if p in codes), None)
    if code is None:
        return {}
    expansion = codes[code]
    name = case_body(expansion)
    words = "|".join(re.escape(w) for w in {code, name, expansion, name.lower()})
    counts = {}
    for word, cased, level in tables.admin_units():
        if word.isalpha() and cased in ("tỉnh", "huyện", "xã", "quận", "thị xã"):
            n = len(re.findall(rf"(?:{words})\s+{cased}\b", doc.text, flags=re.IGNORECASE))
            counts[(cased, level)] = counts.get((cased, level), 0) + n
    (cased, level), n = max(counts.items(), key=lambda kv: kv[1]) if counts else ((None, None), 0)
    hits = {}
    if n == 0:
        hits["issuer.name"] = Hit(name, symbol.start, symbol.end, "inferred:symbol_issuer_code", INFERRED)
        return hits
    hits["issuer.level"] = Hit(level, symbol.start, symbol.end, "inferred:self_reference", INFERRED)
    if place and (level != "tỉnh" or place.value in tables.provinces()):
        hits["issuer.locality"] = Hit(place.value, place.start, place.end, "inferred:place", INFERRED)
        hits["issuer.name"] = Hit(f"{name} {cased} {place.value}", symbol.start, symbol.end,
                                  "inferred:symbol_issuer_code+place", INFERRED)
    else:
        hits["issuer.name"] = Hit(f"{name} {cased}", symbol.start, symbol.end, "inferred:symbol_issuer_code", INFERRED)
    return hits


# ---------------------------------------------------------------- subject

def _join(parts: list[str]) -> str:
    out = ""
    for p in parts:
        p = norm_ws(p)
        if not p:
            continue
        if not out:
            out = p
        elif re.search(r"[A-ZĐ0-9]-$", out) and re.match(r"[A-ZĐ]", p):
            out += p  # "59/TB-" + "VPCP"
        else:
            out += " " + p
    return out


def strip_debris(s: str) -> str:
    """Stamp/OCR debris before a title's subject: ")› SG Phối hợp …", "O{[ 2 Jz£ %6 Phối hợp …".

    Leading tokens that are not plain words (symbols, digits, one letter, a 2-letter capital pair)
    are dropped, but only when what remains starts with a capitalised word."""
    toks = s.split()
    k = 0
    while k < min(len(toks), 8) and (not toks[k].isalpha() or len(toks[k]) == 1
                                     or (len(toks[k]) == 2 and toks[k].isupper())):
        k += 1
    if k and k < len(toks) and toks[k][0].isupper() and toks[k][1:].islower():
        return " ".join(toks[k:])
    return s


def find_subject(doc: Document, zone: list[Line], cuts: list[tuple[int, int]], title: Optional[Hit]) -> tuple[Optional[Hit], bool]:
    """(subject, is_vv). "V/v …" / "Về việc …" over several lines, else the lines after the title."""
    text = doc.text
    start_idx, is_vv, first_off = None, False, 0
    for i, ln in enumerate(zone):
        if i and is_body_start(ln.text) and not SUBJECT_RE.match(ln.text):
            break
        m = SUBJECT_RE.match(ln.text)
        if m:
            start_idx, is_vv, first_off = i, True, m.end()
            break
    if start_idx is None and title is not None:
        for i, ln in enumerate(zone):
            if ln.start <= title.start < ln.end + 1:
                start_idx, first_off = i + 1, 0
                break
    if start_idx is None:
        return None, False
    parts, spans, blank_run = [], [], 0
    for j, ln in enumerate(zone[start_idx:start_idx + 12]):
        off = ln.start + (first_off if j == 0 else 0)
        raw = ln.text[(first_off if j == 0 else 0):]
        if not raw.strip():
            blank_run += 1
            if not is_vv and parts:
                break
            if blank_run > 2:
                break
            continue
        blank_run = 0
        if j > 0 and (is_body_start(raw) or SUBJECT_RE.match(raw) or NUMBER_RE.search(raw)
                      or re.match(r"^[\s_\-=*]{3,}$", raw)):
            break
        keep = _cut(Line(raw, off, ln.end, 0), cuts)  # the motto / place-date of the other column
        seg_text = " ".join(text[s:e] for s, e in keep).strip()
        if not seg_text:
            if parts:
                break  # a line that is all motto or place-date ends the subject
            continue
        if j > 0 and upper_ratio(seg_text) > 0.9 and len(seg_text.split()) >= 2:
            break
        if not is_vv and j > 0 and (re.match(r"[-–•+]\s", seg_text) or seg_text.rstrip().endswith(":")):
            break  # a list or a list's intro: the body has started (giấy mời: "… trân trọng kính mời:")
        if not is_vv and not parts:
            seg_text = strip_debris(seg_text)
        parts.append(seg_text)
        spans += keep
        if not is_vv and len(parts) >= 5:
            break
    value = _join(parts).strip(" .;:")
    if value.startswith("(") and value.endswith(")"):
        value = value[1:-1].strip()
    value = value.rstrip(")").strip() if value.count(")") > value.count("(") else value
    value = SUBJECT_RE.sub("", value) if not is_vv else value
    if not value:
        return None, is_vv
    s, e = spans[0][0], spans[-1][1]
    return Hit(value, s, e, "vv_lines" if is_vv else "title_lines", RULE), is_vv


# ---------------------------------------------------------------- urgency / secrecy

def mark_of(seg: str) -> Optional[tuple[str, str, bool]]:
    """(kind, value, exact) when a header segment is an urgency / secrecy mark ("KHẨN", "HỎA TỐC",
    "MẬT"), also boxed or OCR'd ("| KHÂN |", "HOA TOC"): the letters alone, compared without
    diacritics when they are not an exact match. The mark must be the whole segment, so "Mật"
    inside a sentence or "THƯỢNG KHẨN" inside a title is never read as one."""
    core = norm_ws(re.sub(r"[^\w\s]|\d|_", " ", seg))
    if not core or len(core) > 14:
        return None
    marks = tables.marks()
    for kind, mark, value in marks:
        if core == mark:
            return kind, value, True
    if not core.isupper():
        return None
    f = fold(core)
    for kind, mark, value in marks:
        if f == fold(mark):
            return kind, value, False
    return None


def find_marks(doc: Document, zone: list[Line], cuts: list[tuple[int, int]]) -> dict[str, Hit]:
    """Urgency and secrecy marks: stand-alone header segments (their own line or a column part)."""
    text, out = doc.text, {}
    for ln in zone:
        if is_body_start(ln.text):
            break
        for s, e in _segments(ln, cuts, text):
            m = mark_of(text[s:e])
            if m and m[0] not in out:
                out[m[0]] = Hit(m[1], s, e, "marks_table" if m[2] else "marks_table:folded", EXACT if m[2] else REPAIRED)
    return out


def reconcile_locality(text: str, hits: dict[str, Hit]) -> None:
    """Place and issuer locality that differ only in diacritics ("Phong Thố" / "Phong Thổ") are one
    name read twice by OCR: keep the spelling the document uses more often."""
    place, loc = hits.get("place"), hits.get("issuer.locality")
    if not place or not loc or place.value == loc.value or fold(place.value) != fold(loc.value):
        return
    variants = (place.value, loc.value)
    best = max(variants, key=lambda v: text.count(v))
    for key in ("place", "issuer.locality", "issuer.name", "issuer.parent"):
        h = hits.get(key)
        if h is not None and isinstance(h.value, str):
            for v in variants:
                if v != best and v in h.value:
                    h.value = h.value.replace(v, best)
                    h.confidence = min(h.confidence, REPAIRED)


# ---------------------------------------------------------------- all together

def _symbol_from_title(hits: dict[str, Hit], title: Hit) -> None:
    """A symbol opens with its type code (Nghị định 30/2020: "TTr-CAT-PC06" for a tờ trình). When the
    first segment is no known code and looks like an OCR'd one ("Tin-CAT-PC06" under "TỜ TRÌNH"),
    the title's code replaces it: same length or one letter off, sharing the first letter."""
    sym = hits["symbol"]
    first = re.split(r"[-/(]", sym.value)[0]
    code = title.value
    known = set(tables.doc_type_codes()) | set(tables.issuer_codes())
    if (first in known or first == sym.value or not first.isalpha() or abs(len(first) - len(code)) > 1
            or first[:1].upper() != code[:1].upper()):
        return
    fixed = code + sym.value[len(first):]
    hits["symbol"] = Hit(fixed, sym.start, sym.end, "symbol+title_code", REPAIRED)
    num = hits.get("number")
    if num is not None and num.value.endswith("/" + sym.value):
        hits["number"] = Hit(num.value[: -len(sym.value)] + fixed, num.start, num.end, "symbol+title_code", REPAIRED)


def extract_header(doc: Document) -> dict[str, Hit]:
    zone = header_zone(doc)
    text = doc.text
    hits: dict[str, Hit] = {}
    number, symbol = find_number(doc, zone)
    if number:
        hits["number"] = number
    if symbol:
        hits["symbol"] = symbol
    pd = find_place_date(doc, zone)
    cuts = motto_spans(text[: zone[-1].end if zone else 0])
    num_m = NUMBER_RE.search(text, 0, zone[-1].end) if zone and symbol else None
    if num_m:
        cuts.append((num_m.start(), num_m.end()))
    if pd:
        if pd.place:
            hits["place"] = pd.place
        if pd.date:
            hits["issued_date"] = pd.date
        cuts.append(pd.span)
    title = find_title(doc, zone, cuts)
    if title and symbol:
        _symbol_from_title(hits, title)
    subject, is_vv = find_subject(doc, zone, cuts, title)
    if subject:
        hits["subject"] = subject
    dt = decide_doc_type(title, symbol, is_vv)
    if dt:
        if dt.start < 0 and subject:
            dt.start, dt.end = subject.start, subject.end
        hits["doc_type"] = dt
    # issuer lines end at the number line, else the place-date line, else the title
    if num_m:
        stop = num_m.start()
    else:
        stop = min([x for x in (pd.span[0] if pd else None, title.start if title else None) if x is not None], default=0)
    issuer = compose_issuer(find_issuer_lines(doc, zone, cuts, stop))
    if "issuer.name" not in issuer:
        issuer = infer_issuer(doc, symbol, hits.get("place"))
    hits.update(issuer)
    reconcile_locality(doc.text, hits)
    hits.update(find_marks(doc, zone, cuts))
    return hits
