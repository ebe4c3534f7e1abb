"""Who a dispatch goes to: "Kính gửi" recipients and the "Nơi nhận" distribution list.

Both are bullet lists with the same shape, read line by line with offsets: an item starts at a
bullet ("-", "+", "•") or, for one recipient, inline after the colon; an item that has not ended
with ";" or "." continues on the next line; the list ends at the first unbulleted line after a
finished item. In a born-digital layer the signature block shares lines with "Nơi nhận"
("- Như trên; PHÓ GIÁM ĐỐC"); the upper-case text after an item's ";" is cut off and left to the
signer extractor.

Output decisions: bullets, trailing ";", "." and "," are stripped; everything else is kept as
written ("Lưu: VT, NV" keeps its "Lưu:" label; "(để b/c)" notes stay); duplicates are dropped.

OCR tolerance (tests/test_extract_ocr_signature.py): bullets read as "=", "_", "~", "»"; a "Nơi nhận"
anchor with OCR slips ("N0i nhặn:", "NƠI NHẬN:"), or none at all (then the list is walked back from
"Lưu:", over blank lines and unbulleted continuation lines); scraps after an item ("…; ; im ;",
"…: tay ⁄", "…, tệ >", "— _.") are cut; an item whose bullet OCR dropped starts a new item when it
follows a finished item after a blank line and opens with a body word, a stock phrase or an issuer
code. Items are then read against stock tables (`repair_item`: `data/list_phrases.txt`,
`data/list_abbreviations.txt`, the bodies table, old-style "uỷ"): only a mismatch is changed, and a
changed item carries REPAIRED confidence.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable, Optional

from congvan.pipeline.document import Document

from . import tables
from rapidfuzz import fuzz

from .spans import REPAIRED, RULE, Hit, Line, fold, lines_of, norm_ws, strip_span, upper_ratio

KINH_GUI_RE = re.compile(r"^[ \t|]*K[íiì]nh[ \t]*g[ửừủưuứ]i[ \t]*[:;.]?", re.MULTILINE)
# stamp debris can precede it on the same line; then the colon is required
KINH_GUI_ANY_RE = re.compile(r"K[íiì]nh[ \t]*g[ửừủưuứ]i[ \t]*:")
# "VĂN PHÒNG CHÍNH PHỦ điện:" — a công điện addresses its recipients this way
DIEN_RE = re.compile(r"^[ \t]*[A-ZĐÀ-Ỹ][A-ZĐÀ-Ỹ ]{3,}[ \t]+điện[ \t]*:", re.MULTILINE)
NOI_NHAN_RE = re.compile(
    r"^[ \t*|]*(?:N[ơo][iỉíìị][ \t]*nh[ậaâ]n[ \t]*[:;.]?"  # "Nơi nhận:", "Nơỉ nhận"
    r"|[Nn][ơoóòờớởọôố][iỉíìịl][ \t]*nh[ậaâấầ]n[ \t]*:"  # OCR "nói nhận:" needs its colon
    r"|[Nn][ơoóòờớởọôố0ƠO][iỉíìịl1IÍ][ \t]*[nN][hH][ậaâấầặăạắằẬÂA][nN][ \t]*[:;])\**",  # "N0i nhặn:", "NƠI NHẬN:"
    re.MULTILINE)
# the last item of a distribution list: found when the "Nơi nhận" anchor itself is unreadable
# "- Lưu: VT", also behind a little OCR debris where the bullet was ("kí Lưu: VT, NCKS.")
LUU_LINE_RE = re.compile(r"^[ \t|]*(?:[-–+•*~]|[^\s\w]{1,2}|\w{1,2}[ \t])?[ \t]*L[ưu°]u[ \t]*:", re.MULTILINE)
BULLET_RE = re.compile(r"^[ \t|]*[-–—+•*~=_·»][ \t]*")  # "| - …": OCR keeps a table border; "=", "_" for "-"
BULLET_CHARS = " \t|-–—+•*~=_·»"
LUU_RE = re.compile(r"^L[ưu°]u\b", re.IGNORECASE)
ITEM_STRIP = " \t-–—•+*;.,:|_=·»~"


def _signer_tail(s: str) -> Optional[int]:
    """Index where right-column signature text starts in a list line, or None.

    "- UBND tỉnh; PHÓ GIÁM ĐỐC", "- Như trên; _ CHU TỊCH" (no lower-case letter after the last ";"),
    "Nơi nhận: KT. CHỦ TỊCH" (a signing prefix), "- Lưu: VT, NCKS. Lại Văn Hoàn" (a name)."""
    from .signer import _loose_prefix_ok, case_title, name_shape

    in_luu = bool(LUU_RE.match(s.lstrip(BULLET_CHARS)))
    for prefix, pat in tables.signing_prefixes():
        m = re.search(r"(?:^|\s)(" + pat.pattern + r")\s*[A-ZĐÀ-Ỹ]{2,}", s)
        if m and m.start(1) > 0:
            # in "Lưu: VT, KT. PD" KT is a filing code: there a prefix needs a known title or body after it
            if in_luu and not _loose_prefix_ok(prefix, s[m.end(1):]):
                continue
            return m.start(1)

    # "- Các đơn vị thuộc C04 (đê thực hiện); ; im ;": a run of ";" with a scrap between them at the end
    m = re.search(r";[ \t;]*(?:[^\W\d_]{1,3}|[\W\d_]{1,3})?[ \t;]*$", s)
    if m and m.start() > 0 and s[m.start():].count(";") >= 2 and re.search(r"[^\W\d_]", s[m.start():]):
        return m.start() + 1
    for sep in (";", "."):
        i = s.rfind(sep)
        if i == -1:
            continue
        tail = s[i + 1:]
        if not tail.strip():
            continue
        if name_shape(tail):
            return i + 1
        is_luu = bool(LUU_RE.match(s.lstrip(BULLET_CHARS)))
        if sep == ";" and not is_luu and not any(c.islower() or c.isdigit() for c in tail) \
                and any(c.isupper() for c in tail):
            return i + 1
        if sep == ";" and not is_luu and (re.fullmatch(r"[\W\d_]*", tail) or len(tail.strip()) <= 12):
            return i + 1  # OCR debris after the item: "TT. Huyện ủy; 7", "Trung ương; Đo ủy nụ"
    # "- Ban Bí thư, PHÓ BÍ THƯ THƯỜNG TRỰC": a known title in upper case closing the line
    words = list(re.finditer(r"\S+", s))
    k = len(words)
    while k > 0 and words[k - 1].group(0).strip(",;.").isalpha() and words[k - 1].group(0).isupper():
        k -= 1
    for j in range(k, len(words) - 1):
        if j > 0 and case_title(s[words[j].start():]):
            return words[j].start()
    return None


def collect_items(doc: Document, lines: list[Line], inline: Optional[tuple[int, int]],
                  allow_unbulleted: bool, stop: Callable[[str], bool], max_items: int = 40,
                  skip_upper: bool = False) -> list[Hit]:
    """Read a bullet list starting at `lines[0]` (see module docstring for the rules)."""
    text = doc.text
    items: list[list[int]] = []  # [start, end]
    ended = True  # the last item finished with ";" or "."
    cont = 0

    def add(s: int, e: int, new: bool) -> None:
        nonlocal ended, cont
        s, e = strip_span(text, s, e, " \t-–—•+*|=_·»~")
        if s >= e:
            return
        if new or not items:
            items.append([s, e])
            cont = 0
        else:
            items[-1][1] = e
            cont += 1
        ended = text[e - 1] in ";." or bool(LUU_RE.match(text[items[-1][0]:e]))

    if inline:
        s, e = inline
        if text[s:e].strip(" \t|:"):
            add(s, e, True)
            ended = True  # an inline item ends with its line: what follows is the body
    blank = False  # a blank line since the last item line (OCR sets items apart; a text layer does not)
    for ln in lines:
        raw = ln.text
        if not raw.strip():
            blank = True
            continue
        after_blank, blank = blank, False
        if stop(raw):
            break
        cut = _signer_tail(raw)
        end = ln.start + cut if cut is not None else ln.end
        if not text[ln.start:end].strip():
            continue
        if skip_upper and not BULLET_RE.match(raw) and upper_ratio(raw.translate(tables.ocr_upper_confusions())) >= 0.9 \
                and sum(c.isalpha() for c in raw) >= 4:
            continue  # the signature column's own line ("VỤ CẢI CÁCH HÀNH CHÍNH") between items
        if skip_upper and not BULLET_RE.match(raw) and ended and _is_name(raw):
            continue  # the signer's name, placed between items by a two-column layer
        if skip_upper and not BULLET_RE.match(raw) and _title_tail(raw) \
                and not (cut is not None and text[ln.start:end].rstrip()[-1:] in (";", ",")):
            continue  # "Ti ti PHÓ CHỦ TỊCH": the signature column with OCR debris (not "…, Bộ Y tế; PHÓ CHỦ TỊCH")
        if BULLET_RE.match(raw):
            if items and LUU_RE.match(text[items[-1][0]:items[-1][1]]):
                break  # "Lưu" closes a distribution list
            if items and not allow_unbulleted and text[items[-1][1] - 1] == ".":
                break  # the last recipient ends with "."
            body = re.sub(r"^[\W_]+", "", raw)
            if re.match(r"(?:Thực hiện|Căn cứ|Theo|Xét)\b", body):
                break  # an OCR'd mark before the first body paragraph, not a bullet
            add(ln.start, end, True)
        elif allow_unbulleted and ended and items and (after_blank or text[items[-1][1] - 1] == ".") \
                and _lost_bullet(text[ln.start:end]) and not LUU_RE.match(text[items[-1][0]:items[-1][1]]):
            add(ln.start, end, True)  # OCR dropped the bullet of the next item ("Bạn Thi đua - …, Sở Nội vụ,")
        elif not ended and items and cont < 3:
            add(ln.start, end, False)
        elif allow_unbulleted and items and not LUU_RE.match(text[items[-1][0]:items[-1][1]]) \
                and re.search(r"[;,]\s*$", text[ln.start:end]) and upper_ratio(raw) < 0.9 and cont < 6:
            add(ln.start, end, False)  # unbulleted sub-items belong to the bulleted item above
        else:
            break
        if len(items) >= max_items:
            break
    out, seen = [], set()
    for s, e in items:
        value = _clean_item(text[s:e])
        value, repaired = repair_item(value)
        key = value.casefold()
        if value and key not in seen:
            seen.add(key)
            out.append(Hit(value, s, e, "bullet_list", REPAIRED if repaired else RULE))
    return out


def _lost_bullet(line: str) -> bool:
    """A list line whose bullet OCR lost: short, and it opens with a capitalised body word of the bodies
    table ("Ban", OCR "Bạn"; "Văn phòng …"), a stock phrase or an abbreviation such as UBND."""
    t = re.sub(r"^[\W_]+", "", line).strip()
    if not t or len(t) > 80 or not t[0].isupper():
        return False
    words = t.split()
    ft = fold(t)
    if any(ft.startswith(fold(p) + " ") for p, _, kind in tables.bodies() if kind != "full"):
        return len(words) > 1 and words[1][:1].isupper()
    if words[0].strip(",;:.") in tables.issuer_codes():
        return True
    return any(ft.startswith(fold(p) + " ") for p in tables.list_phrases())


@lru_cache(None)
def _abbreviations() -> dict[str, str]:
    """Folded abbreviation → as printed ("TDKT" → "TĐKT"), built once."""
    return {fold(a): a for a in tables.list_abbreviations()}


def repair_item(value: str) -> tuple[str, bool]:
    """Read an OCR-damaged list item back against the stock tables (`data/list_phrases.txt`,
    `data/list_abbreviations.txt`, the bodies table); (value, changed). Only mismatches are touched:
    an item printed correctly comes back as it is."""
    if not value or LUU_RE.match(value):
        return value, False
    orig = value
    phrases = tables.list_phrases()
    f = fold(value)
    if not any(value.casefold() == p.casefold() for p in phrases):
        best = max(phrases, key=lambda p: fuzz.ratio(f, fold(p)))
        if len(f) >= 4 and len(value.split()) <= len(best.split()) and fuzz.ratio(f, fold(best)) >= 80:
            return best, True  # "ư trên" → "Như trên"
    toks = list(re.finditer(r"[^\W\d_]+", value))  # the words of `value`, again only when it changes
    for p in phrases:
        n, fp = len(p.split()), fold(p)
        for i in range(len(toks) - n + 1):
            a, b = toks[i].start(), toks[i + n - 1].end()
            win = value[a:b]
            if win.casefold() == p.casefold() or not re.fullmatch(r"[^\W\d_]+(?: [^\W\d_]+)*", win):
                continue
            fw = fold(win)
            if len(fw) == len(fp) and fw[0] == fp[0] and fw != fp and fuzz.ratio(fw, fp) >= 85:
                rep = p if win[0].isupper() else p[0].lower() + p[1:]
                value = value[:a] + rep + value[b:]
                toks = list(re.finditer(r"[^\W\d_]+", value))
                break
    words = value.split(" ")
    if len(words) > 1 and words[1][:1].isupper():  # "Bạn TĐKT" → "Ban TĐKT": a body word read with a wrong mark
        head = fold(words[0])
        for p, cased, kind in tables.bodies():
            c0 = cased.split()[0]
            if kind != "full" and len(head) >= 3 and " " not in p and fold(p) == head and words[0] != c0:
                words[0] = c0
                break
    abbr = _abbreviations()
    for i, w in enumerate(words):
        core = w.strip(",;:.()")
        if core.isupper() and core in abbr and abbr[core] != core:  # "TDKT" → "TĐKT"
            words[i] = w.replace(core, abbr[core])
    value = " ".join(words)
    value = _OLD_UY.sub(lambda m: m.group(1) + _NEW_UY[m.group(2)], value)
    return value, value != orig


# Old-style tone placement on the word "uy" ("Tỉnh uỷ", "Uỷ ban") as the bodies table reads it
# ("UỶ BAN NHÂN DÂN" → "Ủy ban nhân dân"): the mark goes on the u. Only the word itself ("thuỷ",
# "quý" are left as printed).
_NEW_UY = {"uỳ": "ùy", "uý": "úy", "uỷ": "ủy", "uỹ": "ũy", "uỵ": "ụy",
           "Uỳ": "Ùy", "Uý": "Úy", "Uỷ": "Ủy", "Uỹ": "Ũy", "Uỵ": "Ụy"}
_OLD_UY = re.compile(r"(^|[^\wqQ])(" + "|".join(_NEW_UY) + r")(?!\w)")


def _title_tail(raw: str) -> bool:
    from .signer import case_title

    words = raw.split()
    tail = []
    for w in reversed(words):
        if w.isalpha() and w.isupper():
            tail.insert(0, w)
        else:
            break
    return len(tail) >= 2 and case_title(" ".join(tail)) is not None


def _is_name(raw: str) -> bool:
    from .signer import name_shape

    return name_shape(raw) is not None


def _clean_item(s: str) -> str:
    s = re.sub(r"\n[ \t|]+", "\n", s)  # OCR table borders at the start of continuation lines
    s = re.sub(r"(?<=[A-ZĐ0-9]-)[ \t]*\n[ \t]*(?=[A-ZĐ])", "", s)  # "QĐ-\nTTg" → "QĐ-TTg"
    s = norm_ws(s)
    s = re.sub(r"\s*[(\[]\s*(?:đã\s+ký|Đã\s+ký|ĐÃ\s+KÝ|đã\s+kí)\s*[)\]]", "", s)  # the signature column's "(Đã ký)"
    if not LUU_RE.match(s):
        s = _cut_colon_scrap(s)
    s = re.sub(r"(?:[^\w)\]]|_)+$", "", s)  # trailing ; . , ✓ _ and other debris
    s = s.strip(ITEM_STRIP)
    if LUU_RE.match(s):
        s = _clean_luu(s)
    return s


def _cut_colon_scrap(s: str) -> str:
    """"Ban TĐKT Trung ương: tay ⁄": OCR reads the item's ";" as ":" and then picks up ink or stamp
    scraps; a tail after the last ":" with no capital and no digit that holds a stray symbol or is at
    most three letters is dropped ("VPUB: LĐ, KTTH" and "Như trên: để thực hiện" stay)."""
    for sep in (":", ","):  # after a comma only with a stray symbol: "…, phường, xã" keeps its "xã"
        i = s.rfind(sep)
        if i <= 0:
            continue
        tail = s[i + 1:]
        if not tail.strip() or any(c.isupper() or c.isdigit() for c in tail):
            continue
        letters = sum(c.isalpha() for c in tail)
        odd = any(not (c.isalnum() or c.isspace() or c in ",.;()-/") for c in tail)
        if odd and letters <= 6 or (sep == ":" and letters <= 3):
            return s[:i]
    return s


def _clean_luu(s: str) -> str:
    """"Lưu: VT, TH (2) Thạch" → "Lưu: VT, TH (2)": the drafter's name written after the filing codes
    is not a recipient; "Lưu: VT, PC06 (ĐI). Sl5: ý ˆ" loses the OCR debris after the codes. Codes
    are upper case ("VT, VXNV. PD" stays), a name in brackets stays ("CCHC&VTLT(Tín)")."""
    m = re.search(r"(?<=[)\w])\.\s+(?=\S*[^\w\s(),&.-])", s)
    if m:
        s = s[:m.start()]
    s = re.sub(r"(?<=[)\]])\.?\s+[\W\d_]$", "", s)  # "Lưu VT, PC04 (Đ1). 2": a lone scrap after the codes
    toks = s.split()
    # only after filing codes ("Lưu: VT, TH Thạch"); "Lưu Văn phòng Tỉnh ủy" (Party style) is a body
    while ":" in s[:6] and len(toks) > 2 and toks[-1].isalpha() and any(c.islower() for c in toks[-1]):
        toks.pop()
    return " ".join(toks).rstrip(" .,;")


def _split_glued(hits: list[Hit]) -> list[Hit]:
    """"Lưu: VT, KSTT.- Lưu: VT, KSTT ✓": two items glued on one line."""
    out = []
    for h in hits:
        parts = re.split(r"(?<=[.;])\s*-\s*(?=\w)", h.value)
        if len(parts) == 1:
            out.append(h)
            continue
        for p in parts:
            p = _clean_item(p)
            if p and p.casefold() not in {o.value.casefold() for o in out}:
                out.append(Hit(p, h.start, h.end, h.method, h.confidence))
    return out


def _is_stop(raw: str) -> bool:
    s = norm_ws(raw)
    from .header import NUMBER_RE  # shared anchor; imported late (header imports nothing from here)
    return bool(NOI_NHAN_RE.match(raw) or re.match(r"^(?:Căn cứ|Thực hiện)\b", s)
                or (NUMBER_RE.match(s) and "/" in s[:20]))


def find_recipients(doc: Document) -> list[Hit]:
    """"Kính gửi:" (or "<BODY> điện:") — one inline recipient or a bullet list."""
    text = doc.text
    m = KINH_GUI_RE.search(text) or KINH_GUI_ANY_RE.search(text)
    m2 = DIEN_RE.search(text)
    if m2 and (not m or m2.start() < m.start()):
        m = m2
    if not m:
        return []
    line_end = text.find("\n", m.end())
    line_end = len(text) if line_end == -1 else line_end
    inline = (m.end(), line_end)
    rest = lines_of(text, line_end + 1, min(len(text), line_end + 3000)) if line_end < len(text) else []
    hits = collect_items(doc, rest, inline, allow_unbulleted=False, stop=_is_stop, max_items=30)
    for h in hits:
        h.method = "kinh_gui"
    return _split_inline_list(hits)


def _split_inline_list(hits: list[Hit]) -> list[Hit]:
    """"Kính gửi: Sở Tài chính; Sở Tư pháp; Văn phòng UBND tỉnh." on one line: one recipient per
    ";"-separated part, when every part reads as a body on its own (starts with a capital)."""
    out = []
    for h in hits:
        parts = [p.strip(" .,") for p in h.value.split(";")]
        if len(parts) > 1 and all(p[:1].isupper() and len(p) >= 4 for p in parts):
            out.extend(Hit(p, h.start, h.end, h.method, min(h.confidence, RULE)) for p in parts)
        else:
            out.append(h)
    return out


def find_distribution(doc: Document) -> tuple[list[Hit], Optional[Hit]]:
    """("Nơi nhận" items, the "Nơi nhận" anchor). Inline text after the colon is the signature
    column unless it starts with a bullet."""
    text = doc.text
    m = NOI_NHAN_RE.search(text)
    if not m:
        return _distribution_from_luu(doc)
    anchor = Hit("Nơi nhận", m.start(), m.end(), "noi_nhan", RULE)
    line_end = text.find("\n", m.end())
    line_end = len(text) if line_end == -1 else line_end
    inline = None
    if BULLET_RE.match(text[m.end():line_end]):
        cut = _signer_tail(text[m.end():line_end])
        inline = (m.end(), m.end() + cut if cut is not None else line_end)
    rest = lines_of(text, line_end + 1, min(len(text), line_end + 3000)) if line_end < len(text) else []
    hits = _split_glued(collect_items(doc, rest, inline, allow_unbulleted=True, stop=_is_stop,
                                       skip_upper=True))
    for h in hits:
        h.method = "noi_nhan"
    return hits, anchor


def _distribution_from_luu(doc: Document) -> tuple[list[Hit], Optional[Hit]]:
    """No readable "Nơi nhận": walk back from the last "- Lưu:" line over the bullet list above it.
    The line just above the first bullet stands in for the anchor (the signer block starts there)."""
    text = doc.text
    matches = list(LUU_LINE_RE.finditer(text))
    if not matches:
        return [], None
    luu = matches[-1]
    all_lines = lines_of(text)
    idx = next(i for i, ln in enumerate(all_lines) if ln.start <= luu.start() <= ln.end)
    first = idx

    def above(i: int) -> int:  # the nearest non-blank line above line i (OCR puts blank lines between items)
        j = i - 1
        while j >= 0 and not all_lines[j].text.strip():
            j -= 1
        return j

    for i in range(idx - 1, max(-1, idx - 40), -1):
        raw = all_lines[i].text
        if not raw.strip():
            continue
        if BULLET_RE.match(raw):
            first = i
            continue
        j = above(i)
        if len(raw.strip()) < 60 and not raw.rstrip().endswith("./.") and j >= 0 and BULLET_RE.match(all_lines[j].text):
            continue  # continuation of the item above
        break
    j = above(first)
    anchor_line = all_lines[j] if j >= 0 else all_lines[first]
    anchor = Hit("Nơi nhận", anchor_line.start, anchor_line.end, "luu_fallback", RULE)
    hits = _split_glued(collect_items(doc, all_lines[first:idx + 3], None, allow_unbulleted=True,
                                      stop=_is_stop, skip_upper=True))
    for h in hits:
        h.method = "luu_fallback"
        h.confidence = 0.7
    if not any(LUU_RE.match(h.value) for h in hits):
        # the "Lưu" line itself had debris for a bullet: read it from "Lưu" to the line end
        ls = luu.end() - len(re.search(r"L[ưu°]u[ \t]*:$", luu.group(0)).group(0))
        le = text.find("\n", ls)
        le = len(text) if le == -1 else le
        value = _clean_item(text[ls:le])
        if value:
            hits.append(Hit(value, ls, le, "luu_fallback", 0.7))
    return hits, anchor
