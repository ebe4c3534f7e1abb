"""References: every document a dispatch cites ("Căn cứ Nghị định số 98/2023/NĐ-CP ngày …").

Rules first, because citation numbers are regular and the noise is local:
1. Numbers: a digit run followed by a symbol with an upper-case segment ("34-CT/TW",
   "98/2023/NĐ-CP", "679/UBND-TH", "06/2022/QH15"); a symbol may wrap after a hyphen.  The
   document's own "Số:" line is not a reference.
2. Type: the type word just before the number ("Chỉ thị [số]"), matched on a diacritic-folded copy
   of the OCR-tolerant view (dates.make_view), so "Chỉ ứiị số 34-CT/TW" and "Chi thi" still read
   as Chỉ thị.  A type code inside the symbol beats the word ("Văn bản số 59/TB-VPCP" → TB).
3. Laws are also cited by name: "Luật Thi đua, Khen thưởng năm 2022" / "… ngày 15 tháng 6 năm 2022",
   or by a short name alone ("Luật thực hiện dân chủ ở cơ sở"); "Đoàn Luật sư" is not a law.
4. A date right after the number (", ngày 29/02/2024") and a "của <body>" after that belong to it;
   failing that, a body named just before ("đề nghị của Sở Nội vụ tại Tờ trình …", "các Kế hoạch
   của UBND tỉnh: …").
5. Citation kind: "theo" just before (or inherited along a list "theo A; B và C"); otherwise the
   clause opener: "Căn cứ" → can_cu, "Thực hiện" → thuc_hien; else other.

Canonical key (so one document cited three ways is one key):
    <TYPE>:<number>[-<year>]:<issuer code>      e.g.  CT:34:TW   ND:98-2023:CP   CV:679:UBND-TH
  folded to ASCII upper case; the type code is stripped from the symbol, so Party "34-CT/TW" and
  state-style "34/CT-TW" coincide, as do "NĐ-CP" and "NĐCP".  The year is kept only where it is
  part of the number ("98/2023/NĐ-CP").
    LUAT:<FOLDED-NAME>:<year>                   e.g.  LUAT:THI-DUA-KHEN-THUONG:2022
  for laws, *whether or not a number is cited*: "Luật Thi đua, Khen thưởng số 06/2022/QH15" and
  "Luật Thi đua, Khen thưởng năm 2022" are one key, because a law's name and year identify it and
  most citations omit the number (the number is still kept in `number`).  A law cited by number
  alone ("Luật số 06/2022/QH15") falls back to the number key LUAT:06-2022:QH15.
Within a document, references are deduplicated by key: the first occurrence keeps its span; date,
issuer and number are filled from later ones; the strongest citation kind wins
(can_cu > thuc_hien > theo > other).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

from rapidfuzz import fuzz

from congvan.extractors.dates import View, clean, fold_same_length, folded_text, date_at, fold, load_lines, make_view
from congvan.pipeline.document import Document
from congvan.schemas.record import Provenance, Reference

# ---------------------------------------------------------------- tables


@lru_cache(None)
def _types() -> list[tuple[str, str, str]]:
    """(folded type word, code, kind), longest word first."""
    rows = []
    for line in load_lines("ref_types.tsv"):
        word, code, kind = line.split("\t")
        rows.append((fold(word), code, kind))
    return sorted(rows, key=lambda r: -len(r[0]))


@lru_cache(None)
def _symbol_codes() -> dict[str, str]:
    return dict(line.split("\t") for line in load_lines("ref_symbol_codes.tsv"))


@lru_cache(None)
def _glued_codes() -> list[str]:
    return load_lines("ref_glued_codes.txt")


@lru_cache(None)
def _type_rx() -> re.Pattern:
    words = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w, _, _ in _types())
    return re.compile(rf"(?<![a-z])({words})(?![a-z])")


def _code_of(word_folded: str) -> tuple[str, str]:
    w = re.sub(r"\s+", " ", word_folded)
    for f, code, kind in _types():
        if f == w:
            return code, kind
    return "CV", "doc"


# ---------------------------------------------------------------- patterns
_SEG = r"[A-ZĐ][A-Za-zĐđ0-9]*"
NUMBER_RX = re.compile(
    rf"(?<![\w/.\-])(\d{{1,5}}[a-z]?)(?:/((?:19|20)\d{{2}}))?[ \t]?([-/])(?:[ \t]*\n[ \t]*|[ \t]?)"
    rf"({_SEG}(?:(?:[-/]|-[ \t]*\n\s*){_SEG}|\({_SEG}\))*)"
)
_OWN_NUMBER = re.compile(r"S[ốỐ]\s*[:.]?[\s^]*$")
_LAW_NAME_RX = re.compile(
    r"(?<!pháp )(?<!Pháp )\b(Bộ luật|Luật)(?!\s+sư\b)\s+((?:[^\W\d_]|\()(?:(?!\n\s*\n|\.\s)[^;:“”\"]){2,140}?)"
    r"\s*,?\s+(?:năm\s+((?:19|20)\d{2})(?!\d)|ngày\s+\d{1,2}\s+tháng\s+\d{1,2}\s+năm\s+((?:19|20)\d{2})"
    r"|ngày\s+\d{1,2}\s*/\s*\d{1,2}\s*/\s*((?:19|20)\d{2})|(số)\s+(?=\d))"
)
_LAW_BARE_RX = re.compile(
    r"(?<!pháp )(?<!Pháp )\b(Bộ luật|Luật)(?!\s+sư\b)\s+((?:[A-ZĐ]|thực|sửa|phòng|tổ|đất|bảo|an)[^\W\d_]*"
    r"(?:[ \t,\n]+(?!và\b|nhằm\b|năm\b|ngày\b|số\b|các\b|của\b|đã\b|được\b|trong\b|tại\b)[^\W\d_]+){0,8})")
_ISSUER_STOP = re.compile(
    r"\s+(?:về|quy định|ban hành|phát động|hướng dẫn|thông báo|tại|đã|nhằm|trong|với|để|được|"
    r"tiếp tục|triển khai|giai đoạn|phê duyệt|chỉ đạo|kết luận|thành lập|sửa đổi|bổ sung|tổ chức|xác định|yêu cầu|đề nghị|việc|như|theo|gồm|thì|là|có)\b|\s+và\s+(?=[a-zđ])"
    r"|\s+[\"“”]|[;,.:()“”\"]|\n\s*\n(?=\s*(?:\d+[.)]|[a-zđ]\)|[-+•]))"
.replace(" ", r"\s+")  # "phát\nđộng" wraps like "phát động"
)
_KIND_RANK = {"can_cu": 3, "thuc_hien": 2, "theo": 1, "other": 0}
_SENT_BOUNDARY = re.compile(r"\n(?=[ \t]*(?:Căn cứ|Thực hiện|Xét|Theo)\b)|;[ \t]*\n|\n\s*\n|[.:](?=\s)|\n\s*(?:[a-zđ]\)|\d+(?:\.\d+)*\.\s|[IVX]+\.\s|-\s)")


_fold_same_length = fold_same_length


def _symbol_parts(symbol: str) -> tuple[Optional[str], list[str]]:
    """(type code found in the symbol or None, issuer segments)."""
    segs = [s for s in re.split(r"[-/()\s]+", symbol) if s]
    codes = _symbol_codes()
    for i, s in enumerate(segs[:2]):
        if s in codes:
            return codes[s], segs[:i] + segs[i + 1:]
    first = segs[0]
    for g in _glued_codes():
        rest = first[len(g):]
        if first.startswith(g) and 2 <= len(rest) <= 4 and rest[:1].isupper():
            return codes.get(g, g), [rest] + segs[1:]
    return None, segs


def _normalise_number(num: str, year: Optional[str], sep: str, symbol: str) -> str:
    symbol = re.sub(r"\s+", "", symbol)
    for g in _glued_codes():  # "NĐCP" → "NĐ-CP"
        m = re.match(rf"^{g}([A-Z][A-Za-z]{{1,3}})(?=$|[-/])", symbol)
        if m and g + m.group(1) not in _symbol_codes():
            symbol = f"{g}-{symbol[len(g):]}"
            break
    return f"{num}/{year}/{symbol}" if year else f"{num}{sep}{symbol}"


def _key_part(s: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "-", fold(s).upper()).strip("-")


def make_key(doc_type: str, num: Optional[str], year: Optional[str], issuer_segs: list[str],
             law_name: Optional[str] = None, law_year: Optional[str] = None) -> str:
    t = _key_part(doc_type)
    if law_name and (law_year or year):
        return f"{t}:{_key_part(law_name)}:{law_year or year}"
    if num:
        n = num.lstrip("0") or "0"
        n = f"{n}-{year}" if year else n
        return f"{t}:{n}:{_key_part('-'.join(issuer_segs))}"
    return f"{t}:{_key_part(law_name or '')}"


def _issuer_after(text: str, pos: int) -> Optional[tuple[str, int, int]]:
    m = re.compile(r"\s*,?\s*(của|do)\s+").match(text, pos)
    if not m:
        return None
    s = m.end()
    window = text[s:s + 160]
    stop = _ISSUER_STOP.search(window)
    e = s + (stop.start() if stop else len(window))
    name = clean(text[s:e])
    # "… của HĐND tỉnh và Quyết định số …": the next citation is not part of the issuer
    nxt = re.search(r"\s+và\s+(?=\S)", name)
    if nxt and _type_rx().match(fold(name[nxt.end():])):
        name = name[:nxt.start()]
        e = s + text[s:e].find(name[-3:]) + 3 if name[-3:] in text[s:e] else e
    if not name or len(name) < 2:
        return None
    return name[:1].upper() + name[1:], s, e


_ISSUER_BEFORE = re.compile(
    r"(?:của|do)\s+((?:(?![;.:()“”\"]).){2,80}?)\s+(?:tại|theo)\s*$"  # "đề nghị của Sở Nội vụ tại"
    r"|(?:các|những)\s+[^\W\d_][^;.:]{1,25}?\s+(?:của|do)\s+((?:(?![;.()“”\"]).){2,80}?)\s*(?:ban\s+hành\s*)?:[^:]*$",
    re.IGNORECASE)


def _issuer_before(text: str, start: int) -> Optional[str]:
    """Issuer stated before the citation: "đề nghị của Sở Nội vụ tại Tờ trình 3363/TTr-SNV",
    "các Kế hoạch của UBND tỉnh: Kế hoạch số 1663/KH-UBND …; Kế hoạch số 1442/KH-UBND …"."""
    lo = max(0, start - 400)
    window = text[lo:start]
    cut = max(window.rfind("\n\n"), window.rfind(". "))
    window = window[cut + 1:] if cut >= 0 else window
    m = _ISSUER_BEFORE.search(window)
    if not m:
        return None
    name = clean(m.group(1) or m.group(2))
    return name[:1].upper() + name[1:] if name else None


def _citation(view: View, folded: str, start: int) -> str:
    before = folded[max(0, start - 30):start]
    if re.search(r"(?:\btheo|\btheo tinh than|\btheo quy dinh tai|\btheo cac)\s*$", before):
        return "theo"
    # the clause this reference sits in
    b = 0
    for m in _SENT_BOUNDARY.finditer(view.text, max(0, start - 600), start):
        b = m.end()
    clause = folded[b:start].lstrip(" \t\n-+•^")
    clause = re.sub(r"^(?:\d+(?:\.\d+)*\.|[a-z]\)|[ivx]+\.)\s*", "", clause)
    if clause.startswith("can cu"):
        return "can_cu"
    if clause.startswith("thuc hien"):
        return "thuc_hien"
    if clause.startswith("theo "):
        return "theo"
    return "other"


def find_references(doc: Document) -> list[Reference]:
    """Every cited document in `doc`, deduplicated by canonical key (see module docstring)."""
    view = make_view(doc.text)
    vt = view.text
    folded = folded_text(vt)
    found: list[dict] = []

    # --- 1. numbered citations
    for m in NUMBER_RX.finditer(vt):
        num, year, sep, symbol = m.group(1), m.group(2), m.group(3), m.group(4)
        if _OWN_NUMBER.search(vt[max(0, m.start() - 8):m.start()]):
            continue
        code, issuer_segs = _symbol_parts(symbol)
        # the type word (and, for laws, a name) just before the number
        win_start = max(0, m.start() - 160)
        window = folded[win_start:m.start()]
        cut = max(window.rfind(";"), window.rfind("\n\n"), window.rfind(". "))
        if cut >= 0:
            win_start, window = win_start + cut + 1, window[cut + 1:]
        tw = None
        for t in _type_rx().finditer(window):
            tw = t
        word_code = law_name = None
        kind = "doc"
        start = m.start()
        if tw:
            gap = window[tw.end():]
            wc, kind = _code_of(tw.group(1))
            if re.fullmatch(r"\s*(?:so\s*)?", gap):
                word_code, start = wc, win_start + tw.start()
            elif kind == "law" and re.fullmatch(r"\s+\S.{1,140}?\s+so\s*", gap, re.S):
                word_code, start = wc, win_start + tw.start()
                law_name = clean(vt[win_start + tw.end():m.start()])
                law_name = re.sub(r"\s*,?\s*số\s*$", "", law_name)
            else:
                kind = "doc"
        if not word_code and not code:
            if not re.search(r"\bso\s*$", folded[max(0, m.start() - 6):m.start()]):
                continue
            word_code = "CV"
        if not word_code and re.search(r"\bso\s*$", folded[max(0, m.start() - 6):m.start()]):
            start = folded.rfind("so", 0, m.start()) if not tw else start
        doc_type = code or word_code
        if kind == "law" and word_code:
            doc_type = word_code
        number = _normalise_number(num, year, sep, symbol)
        end = m.end()
        date = None
        d = date_at(vt, end)
        if d:
            date, end = d[0], d[2]
        issuer = None
        iss = _issuer_after(vt, end)
        if iss:
            issuer, end = iss[0], iss[2]
        law_year = year if law_name else None
        key = make_key(doc_type, num, year, issuer_segs, law_name, law_year)
        found.append(dict(start=start, end=end, doc_type=doc_type, number=number, key=key,
                          date=date, issuer=issuer, method="rule:number", conf=0.9 if (tw or code) else 0.7))

    # --- 2. laws by name and year
    for m in _LAW_NAME_RX.finditer(vt):
        if m.group(6):  # "… số 06/2022/QH15": the numbered path has it
            continue
        name = clean(m.group(2))
        if re.search(r"\b[A-ZĐÂÊÔƠƯ]{2,}\s+[A-ZĐÂÊÔƠƯỦỊ]{2,}|Căn cứ", name):
            continue  # ran into a heading or the next citation: not a law name
        year = m.group(3) or m.group(4) or m.group(5)
        code, _ = _code_of(fold(m.group(1)))
        end = m.end()
        date = None
        d = date_at(vt, m.end(2))
        if d and not m.group(3):
            date, end = d[0], d[2]
        elif m.group(3):
            date = m.group(3)  # "Luật … năm 2022": the date is known to the year
        iss = _issuer_after(vt, end)
        issuer = None
        if iss:
            issuer, end = iss[0], iss[2]
        found.append(dict(start=m.start(), end=end, doc_type=code, number=None,
                          key=make_key(code, None, None, [], name, year), date=date or None,
                          issuer=issuer, method="rule:law_name", conf=0.8))

    # --- 2b. laws by name alone ("… thực hiện tốt Luật thực hiện dân chủ ở cơ sở."): short names only;
    # one that matches a dated law's name joins it (its first mention then keeps the span)
    taken = [(r["start"], r["end"]) for r in found]
    for m in _LAW_BARE_RX.finditer(vt):
        if any(a <= m.start() < b for a, b in taken):
            continue
        name = clean(m.group(2)).rstrip(" ,")
        if not name or len(name.split()) > 9 or re.search(r"\b[A-ZĐ]{2,}\s+[A-ZĐ]{2,}", name):
            continue
        code, _ = _code_of(fold(m.group(1)))
        found.append(dict(start=m.start(), end=m.start() + len(m.group(0).rstrip(" ,")), doc_type=code, number=None,
                          key=make_key(code, None, None, [], name, None), date=None, issuer=None,
                          method="rule:law_name_only", conf=0.6))
    dated = {r["key"].rsplit(":", 1)[0]: r["key"] for r in found if r["key"].startswith(("LUAT:", "BLUAT:")) and r["key"].count(":") == 2}
    for r in found:
        if r["method"] == "rule:law_name_only" and r["key"] in dated:
            r["key"] = dated[r["key"]]
    found.sort(key=lambda r: r["start"])
    for r in found:
        if not r["issuer"]:
            r["issuer"] = _issuer_before(vt, r["start"])
    # --- 3. citation kind, inherited along lists ("theo A; B và C")
    prev = None
    for r in found:
        kind = _citation(view, folded, r["start"])
        if prev is not None and kind == "other":
            gap = vt[prev["end"]:r["start"]]
            # a list continues: "theo A …, B và C" (short descriptions between items allowed)
            if len(gap) <= 150 and re.search(r"(?:[,;]|\bvà)\s*$", gap) and not re.search(
                    r"\.\s|:\s|\n\s*\n\s*(?:\d+[.)]|[a-zđ]\))", gap):
                kind = prev["citation"]
        r["citation"] = kind
        prev = r

    # --- 4. dedupe by key; a law whose name picked up stray words (text of a neighbouring table
    # column) joins the law of the same year whose name it contains
    laws = [r for r in found if r["key"].startswith(("LUAT:", "BLUAT:")) and r["key"].count(":") == 2]
    for r in laws:
        t, name, yr = r["key"].split(":")
        for o in laws:
            ot, oname, oyr = o["key"].split(":")
            if o is r or ot != t or oyr != yr or len(oname) >= len(name):
                continue
            a, b = set(oname.split("-")), name.split("-")
            if a <= set(b) and len(b) - len(a) <= 4 and fuzz.partial_ratio(oname, name) >= 60:
                r["key"] = o["key"]
                break
    out: dict[str, dict] = {}
    for r in found:
        k = r["key"]
        if k not in out:
            out[k] = r
            continue
        keep = out[k]
        for f in ("date", "issuer", "number"):
            if not keep.get(f) and r.get(f):
                keep[f] = r[f]
        if _KIND_RANK[r["citation"]] > _KIND_RANK[keep["citation"]]:
            keep["citation"] = r["citation"]

    refs = []
    for r in sorted(out.values(), key=lambda r: r["start"]):
        s, e = view.span(r["start"], r["end"])
        refs.append(Reference(
            raw=clean(doc.text[s:e]), doc_type=r["doc_type"], number=r["number"], key=r["key"],
            date=r["date"], issuer=r["issuer"], citation=r["citation"],
            prov=Provenance(page=doc.page_at(s), start=s, end=e, method=r["method"], confidence=r["conf"]),
        ))
    return refs


# ---------------------------------------------------------------- public key for other stages
def canonical_key(number: Optional[str] = None, doc_type: Optional[str] = None, *,
                  name: Optional[str] = None, year: Optional[str] = None,
                  citation: Optional[str] = None) -> Optional[str]:
    """The key a citation of this document gets (module docstring), so the store can join a
    document's own record (`number`, `doc_type`) to the references that cite it.

    - `number` ("34-CT/TW", "34/CT-TW", "98/2023/NĐ-CP", "1023/KH-UBND"): the type code in the
      symbol wins over `doc_type` ("CV" for a công văn, whose symbol carries none);
    - `name` + `year` for a law cited by name (`doc_type` "Luật" / "Bộ luật", default "Luật");
    - `citation`: free text ("Chỉ thị số 34/CT-TW ngày 07/4/2014"), keyed by the reference rules.
    None when nothing usable is given."""
    if citation:
        refs = find_references(Document.from_text(citation))
        return refs[0].key if refs else None
    if number:
        m = NUMBER_RX.search(make_view(number).text)
        if m:
            num, yr, symbol = m.group(1), m.group(2), m.group(4)
            code, issuer_segs = _symbol_parts(symbol)
            return make_key(code or doc_type or "CV", num, yr, issuer_segs)
    if name:
        t = doc_type or "Luật"
        return make_key(t, None, None, [], clean(name), str(year) if year else None)
    return None


reference_key = canonical_key  # alias kept for callers that import the older name
