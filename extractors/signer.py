"""The signature block: authority prefix (TM./KT./TL./TUQ./Q.), on whose behalf, title, and name.

Where: beside "Nơi nhận" (same lines in a born-digital layer, the lines after it in OCR); with no
"Nơi nhận", the last lines of the text. A following document (a new "Số:" or motto) ends the block.

How: the prefix comes from the signing-prefix table; the title is an upper-case segment matched,
without diacritics (OCR "GIÁM ĐÓC"), against the titles table or "PHÓ " + a title; the name is a
line shaped like a Vietnamese name — 2–5 capitalised syllables, the first a surname from
`data/surnames.txt`, after stripping a rank ("Thiếu tướng", "Đại tá"). The shape check is used
instead of underthesea NER: in a signature block the candidates are whole lines, and the surname
table decides them more reliably than a tagger trained on running text. Names are looked for after
the title first, then before it (noisy OCR puts "Lại Văn Hoàn" above "KT. CHỦ TỊCH").

OCR tolerance (each rule a data table with its tests in tests/test_extract_ocr_signature.py):
- a prefix whose dot OCR lost or read as a colon ("KT TỔ TRƯỞNG", "KT: CHỦ TỊCH") counts only before
  a known title (after TM., a known body): the loose column of `data/signing_prefixes.tsv`;
- titles are compared exactly, then without diacritics, then through OCR's l/1/0 for I/O inside
  upper-case words (`data/ocr_confusions.tsv`: "CHỦ TlCH");
- the signature column may come above "Nơi nhận" in OCR's reading order: the lines above the anchor
  that look like that column (prefix, upper-case title/body line, name) belong to the region;
- name lines lose specks around them ("| Đỗ Văn Hoàn.", "Lại Văn Hoàn -"), the eth "Ð" is read as
  "Đ", and a middle name read in lower case ("Lại văn Hoàn", `data/middle_names.txt`) is capitalised;
- under KT. a title equal to the head's ("KT. CHỦ TỊCH / CHỦ TỊCH") lost its "PHÓ": read as the deputy
  with INFERRED confidence (method "…:kt_deputy").
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

from congvan.pipeline.document import Document

from . import tables
from .header import NUMBER_RE, case_body, motto_spans
from .spans import ETH, EXACT, INFERRED, REPAIRED, RULE, Hit, Line, fold, lines_of, norm_ws, upper_ratio

class _NameWord:
    """A capitalised syllable: "Hoàn" yes, "HOÀN"/"hoàn"/"Đ/c" no (str predicates, not a regex
    range: Vietnamese upper and lower case letters interleave in Unicode)."""

    @staticmethod
    def match(w: str) -> bool:
        return len(w) >= 2 and w.isalpha() and w[0].isupper() and w[1:].islower()


NAME_WORD = _NameWord()


QUALIFIERS = {"THƯỜNG TRỰC": "thường trực", "PHỤ TRÁCH": "phụ trách"}


@lru_cache(None)
def _folded_titles() -> tuple[tuple[str, str], ...]:
    """(folded title, cased) in table order: folded once, not on every comparison."""
    return tuple((fold(t), cased) for t, cased in tables.titles().items())


@lru_cache(maxsize=4096)
def case_title(upper: str) -> Optional[str]:
    """"PHÓ CHỦ TỊCH" → "Phó Chủ tịch", "PHÓ TỔ TRƯỞNG THƯỜNG TRỰC" → "Phó Tổ trưởng thường trực";
    None when it is not a known title (exact, then diacritics-free match).
    Memoised (a pure function of the string): the signer, the distribution list and the
    signature-column walk ask about the same segments and their suffixes many times."""
    u = norm_ws(upper).strip(" ,.:")
    for q, cased_q in QUALIFIERS.items():
        if u.endswith(" " + q) and len(u) > len(q) + 1:
            base = case_title(u[: -len(q) - 1])
            return f"{base} {cased_q}" if base else None
    f = fold(u)
    table = tables.titles()
    for t, cased in table.items():  # exact first: THỨ TRƯỞNG and THỦ TRƯỞNG differ only in a diacritic
        if u == t:
            return cased
        if u == "PHÓ " + t:
            return "Phó " + cased
    for ft, cased in _folded_titles():
        if f == ft:
            return cased
        if f == "PHO " + ft:
            return "Phó " + cased
    fo = fold(u.translate(tables.ocr_upper_confusions()))  # "CHỦ TlCH", "GIÁM Đ0C"
    if fo != f:
        for ft, cased in _folded_titles():
            if fo == ft:
                return cased
            if fo == "PHO " + ft:
                return "Phó " + cased
    return _title_of_body(u)


def upper_word(w: str) -> bool:
    """An upper-case word, also with OCR's l/1/0 inside it ("TlCH")."""
    t = w.strip(",").translate(tables.ocr_upper_confusions())
    return t.isalpha() and t.isupper()


def _title_of_body(u: str) -> Optional[str]:
    """"GIÁM ĐỐC SỞ NỘI VỤ" → "Giám đốc Sở Nội vụ", "CHỦ TỊCH UBND TỈNH" → "Chủ tịch UBND tỉnh": a
    known title followed by the body it heads (a body-table prefix or an issuer code)."""
    words = u.split()
    bodies = _folded_body_set()
    for k in range(1, len(words)):  # the shortest title first: "GIÁM ĐỐC" | "SỞ NỘI VỤ", not "… SỞ NỘI" | "VỤ"
        head, body = " ".join(words[:k]), " ".join(words[k:])
        if body.split()[0] not in tables.issuer_codes() and not _starts_with_body(fold(body), bodies):
            continue
        cased = case_title(head)
        if cased:
            return f"{cased} {case_body(body)}"
    return None


@lru_cache(None)
def _folded_body_set() -> frozenset[str]:
    return frozenset(tables.folded_bodies())


def _starts_with_body(fb: str, bodies: frozenset[str]) -> bool:
    """`fb` is a folded body prefix or starts with one and a space: a set lookup per word boundary
    instead of a scan of the whole table."""
    if fb in bodies:
        return True
    i = fb.find(" ")
    while i != -1:
        if fb[:i] in bodies:
            return True
        i = fb.find(" ", i + 1)
    return False


def _case_on_behalf(upper: str) -> str:
    u = norm_ws(upper).strip(" ,.:")
    parts = [p.strip() for p in u.split(",")]
    cased = [case_title(p) or case_body(p) for p in parts if p]
    return ", ".join(cased)


def name_shape(s: str) -> Optional[tuple[str, int]]:
    """(name, offset of the name in s) when `s` is a person's name, else None."""
    debris = " \t*|_~.,;:'\"`"  # OCR specks and a full stop around the name line ("| Đỗ Văn Hoàn.")
    t = s.strip(debris).rstrip(" -–—").translate(ETH)  # "Lại Văn Hoàn  -": a trailing dash is a speck
    off = len(s) - len(s.lstrip(debris))
    for rank in tables.ranks():
        if t.startswith(rank + " "):
            off += len(rank) + 1
            t = t[len(rank) + 1:].lstrip()
            break
    words = t.split()
    if not 2 <= len(words) <= 5:
        return None
    if len(words) >= 3:  # "Lại văn Hoàn": a middle name whose capital OCR read in lower case
        words[1:-1] = [w[:1].upper() + w[1:] if w.islower() and w[:1].upper() + w[1:] in tables.middle_names()
                       else w for w in words[1:-1]]
    if not all(NAME_WORD.match(w) for w in words):
        return None
    if words[0] not in tables.surnames():
        return None
    return " ".join(words), off


def _region(doc: Document, anchor: Optional[Hit]) -> list[Line]:
    text = doc.text
    if anchor is not None:
        prev_nl = text.rfind("\n", 0, anchor.start)
        start = text.rfind("\n", 0, prev_nl) + 1 if prev_nl > 0 else 0  # one line above "Nơi nhận"
        start = _block_above(text, start)
        lines = lines_of(text, max(0, start), min(len(text), anchor.start + 2500))
    else:
        all_lines = lines_of(text)
        lines = all_lines[-30:]
    out = []
    for i, ln in enumerate(lines):
        if i > 2 and (NUMBER_RE.match(ln.text.strip()) or motto_spans(ln.text)):
            break  # a second document starts
        out.append(ln)
    return out


def _block_above(text: str, start: int, max_lines: int = 8) -> int:
    """OCR can put the whole signature column above "Nơi nhận" ("KT. CHỦ TỊCH / PHÓ CHỦ TỊCH / Lại Văn
    Hoàn / Nơi nhận:"): walk up from `start` over lines shaped like that column (a signing prefix,
    an upper-case title or body line, a name) and return where they begin; body text stops the walk."""
    lines = lines_of(text, 0, start)
    if lines and not lines[-1].text:
        lines.pop()  # the empty piece after the newline that ends the line above `start`
    first, seen = start, 0
    for ln in reversed(lines):
        s = ln.text.strip()
        if not s:
            continue
        if seen >= max_lines or not _signature_like(s):
            break
        first, seen = ln.start, seen + 1
    return first


def _signature_like(s: str) -> bool:
    if name_shape(s) or any(True for _ in _prefix_matches(s)):
        return True
    letters = sum(c.isalpha() for c in s)
    return letters >= 4 and len(s.split()) <= 8 and upper_ratio(s) >= 0.9 and not re.search(r"[\d/;:]", s)


def _segments(ln: Line) -> list[tuple[str, int]]:
    """Candidate signature-column segments of a line: after a prefix, after ";" or the whole line."""
    from .parties import BULLET_RE, NOI_NHAN_RE, _signer_tail

    raw = ln.text.replace("*", " ")  # markdown bold in seed-like text: "**TM. ỦY BAN NHÂN DÂN"
    m = NOI_NHAN_RE.match(raw)
    if m:
        rest = raw[m.end():]
        return [(rest, ln.start + m.end())] if rest.strip() else []
    if BULLET_RE.match(raw):
        cut = _signer_tail(raw)
        if cut is None and name_shape(raw):
            return [(raw, ln.start)]  # "~ Đỗ Văn Hoàn": a speck before the name looks like a bullet
        return [(raw[cut:], ln.start + cut)] if cut is not None else []
    return [(raw, ln.start)]


def _on_behalf(prefix: str, rest: str) -> Optional[str]:
    """What follows the prefix: a body after TM. ("ỦY BAN NHÂN DÂN"), else the head's title(s)
    ("CHỦ TỊCH", "BỘ TRƯỞNG, CHỦ NHIỆM"). Unreadable ("KT. CHU") is unknown."""
    words = []
    for w in rest.split():
        if not upper_word(w):
            break
        words.append(w)
    rest = " ".join(words).strip(" ,")
    if not rest:
        return None
    parts = [p.strip() for p in rest.split(",") if p.strip()]
    if prefix == "TM.":
        return _case_on_behalf(rest) if len(rest.replace(" ", "")) >= 4 else None
    if all(case_title(p) for p in parts):
        return ", ".join(case_title(p) for p in parts)
    return None


def _prefix_matches(seg: str):
    """(prefix, match, loose) for a signing prefix in a segment: the printed form ("KT.", "K/T", OCR
    "KT,") before any upper-case word, else the form without its dot ("KT TỔ TRƯỞNG", OCR lost the
    dot) only when what follows is a known title (or, after TM., a known body)."""
    for prefix, pat in tables.signing_prefixes():
        m = re.search(r"(?:^|(?<=[\s:;.]))(" + pat.pattern + r")[ \t]*(?P<rest>[^\n]*)", seg)
        if m and m.group("rest")[:1].isupper():
            yield prefix, m, False
            return
    for prefix, pat in tables.signing_prefixes_loose():
        for m in re.finditer(r"(?:^|(?<=[\s:;.]))(" + pat.pattern + r")[ \t]+(?P<rest>[A-ZĐÀ-Ỹ][^\n]*)", seg):
            if _loose_prefix_ok(prefix, m.group("rest")):
                yield prefix, m, True
                return


def _loose_prefix_ok(prefix: str, rest: str) -> bool:
    words = []
    for w in rest.split():
        if not upper_word(w):
            break
        words.append(w)
    if not words:
        return False
    if prefix == "TM.":
        f = fold(" ".join(words))
        return _starts_with_body(f, _folded_body_set())
    return all(case_title(p.strip()) for p in " ".join(words).split(",") if p.strip())


def find_signer(doc: Document, anchor: Optional[Hit]) -> dict[str, Hit]:
    """Signer fields as hits keyed "signer.authority", "signer.on_behalf_of", "signer.title", "signer.name"."""
    hits: dict[str, Hit] = {}
    lines = _region(doc, anchor)
    title_idx = None
    for i, ln in enumerate(lines):
        for seg, off in _segments(ln):
            s = seg.strip()
            if not s:
                continue
            if "signer.authority" not in hits:
                for prefix, m, loose in _prefix_matches(seg):
                    hits["signer.authority"] = Hit(prefix, off + m.start(1), off + m.end(1),
                                                   "signing_prefixes" + (":no_dot" if loose else ""),
                                                   REPAIRED if loose else EXACT)
                    behalf = _on_behalf(prefix, m.group("rest"))
                    if behalf:
                        rs = off + m.start("rest")
                        hits["signer.on_behalf_of"] = Hit(behalf, rs, rs + len(m.group("rest").rstrip()),
                                                          "signing_prefixes", RULE)
                    title_idx = i if title_idx is None else title_idx
                    s = ""
                    break
            if s and "signer.title" not in hits:
                # the title may sit after debris on the same segment ("N ỜNL, CHỦ TỊCH") or before it ("CHỦ TỊCH ~")
                words = s.split()
                while words and not any(c.isalnum() for c in words[-1]):
                    words.pop()
                lead = len(seg) - len(seg.lstrip())
                for k in range(len(words)):
                    cand = " ".join(words[k:])
                    cased = case_title(cand)
                    if cased and cand.translate(tables.ocr_upper_confusions()).isupper():
                        pos = seg.find(words[k], lead)
                        u = norm_ws(cand)
                        exact = u in tables.titles() or u.removeprefix("PHÓ ") in tables.titles()
                        hits["signer.title"] = Hit(cased, off + pos, off + pos + len(cand), "titles_table",
                                                   EXACT if exact else REPAIRED)
                        title_idx = i
                        _add_unit(hits["signer.title"], lines, i)
                        break
    _deputy_title(hits)
    name = _find_name(lines, title_idx)
    if name:
        hits["signer.name"] = name
    return hits


def _deputy_title(hits: dict[str, Hit]) -> None:
    """Under KT. the deputy signs for the head, so the title line cannot be the head's own title:
    "KT. CHỦ TỊCH / CHỦ TỊCH" is OCR that lost the "PHÓ" of "PHÓ CHỦ TỊCH" (a stamp over the word).
    The title is then read as "Phó …" with low confidence. (A ministry's deputy is "THỨ TRƯỞNG", never
    read as "BỘ TRƯỞNG", so only the equal case is repaired; a missing title is not guessed.)"""
    auth, behalf, title = (hits.get(f"signer.{k}") for k in ("authority", "on_behalf_of", "title"))
    if auth is None or title is None or behalf is None or auth.value != "KT.":
        return
    if fold(title.value) == fold(behalf.value) and not fold(title.value).startswith("PHO "):
        title.value = "Phó " + title.value
        title.method, title.confidence = title.method + ":kt_deputy", INFERRED


def _add_unit(title: Hit, lines: list[Line], i: int) -> None:
    """"VỤ TRƯỞNG" + "VỤ CẢI CÁCH HÀNH CHÍNH" on a following signature-column line → "Vụ trưởng Vụ Cải
    cách hành chính": the unit line of a TL./TUQ. block belongs to the title. Only a line that is
    an upper-case body name (bodies table) within the next three lines, before the name, counts."""
    for ln in [ln for ln in lines[i + 1:i + 8] if ln.text.strip()][:3]:  # OCR puts blank lines between
        for seg, off in _segments(ln):
            s = seg.strip()
            if not s or name_shape(s):
                return
            if s.isupper() and not case_title(s) and not re.search(r"[\d;:]", s):
                f = fold(s)
                if any(f.startswith(fold(p) + " ") for p, _, kind in tables.bodies() if kind != "full"):
                    title.value = f"{title.value} {case_body(s)}"
                    title.end = off + len(seg.rstrip())
                return


def _find_name(lines: list[Line], title_idx: Optional[int]) -> Optional[Hit]:
    order = list(range(title_idx or 0, len(lines)))
    if title_idx:
        order += list(range(title_idx - 1, max(-1, title_idx - 8), -1))
    for i in order:
        ln = lines[i]
        for seg, seg_off in _segments(ln):
            shaped = name_shape(seg)
            if not shaped:
                continue
            value, off = shaped
            start = seg_off + off
            # A lone word beside the name ("Châu" above "Nguyễn Minh") is the drafter's name from the
            # "Lưu" line, not part of the signer's: names are taken as one line, never joined.
            return Hit(value, start, start + len(value), "name_shape+surnames", RULE)
    return _name_at_line_end(lines, order)


_NOT_BEFORE_NAME = {"chí", "ông", "bà", "đ/c", "anh", "chị", "đồng"}


def _name_at_line_end(lines: list[Line], order: list[int]) -> Optional[Hit]:
    """OCR can glue the signer's name to the end of a "Nơi nhận" line ("- Các CQ, ĐV tham gia Cụm
    thi đua Lê Thành Đô"): a name-shaped run closing a bullet line, after a lower-case word that
    does not introduce a person ("đồng chí", "ông"), is taken when no line holds a name alone."""
    for i in order:
        ln = lines[i]
        words = list(re.finditer(r"\S+", ln.text))
        for n in (3, 4, 2):
            if len(words) <= n + 1:
                continue
            prev = words[-n - 1].group(0)
            if not prev[:1].islower() or prev.lower() in _NOT_BEFORE_NAME:
                continue
            seg = ln.text[words[-n].start():words[-1].end()]
            shaped = name_shape(seg)
            if shaped:
                start = ln.start + words[-n].start()
                return Hit(shaped[0], start, start + len(shaped[0]), "name_shape+surnames:line_end", REPAIRED)
    return None
