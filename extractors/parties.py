"""Who a dispatch goes to: "Kính gửi" recipients and the "Nơi nhận" distribution list.

Both are bullet lists with the same shape, read line by line with offsets: an item starts at a
bullet ("-", "+", "•") or, for one recipient, inline after the colon; an item that has not ended
with ";" or "." continues on the next line; the list ends at the first unbulleted line after a
finished item. In a born-digital layer the signature block shares lines with "Nơi nhận"
("- Như trên; PHÓ GIÁM ĐỐC"); the upper-case text after an item's ";" is cut off and left to the
signer extractor.

Output decisions: bullets, trailing ";", "." and "," are stripped; everything else is kept as
written ("Lưu: VT, NV" keeps its "Lưu:" label; "(để b/c)" notes stay); duplicates are dropped.
"""
from __future__ import annotations

import re
from typing import Callable, Optional

from congvan.pipeline.document import Document

from . import tables
from .spans import RULE, Hit, Line, lines_of, norm_ws, strip_span, upper_ratio

KINH_GUI_RE = re.compile(r"^[ \t|]*K[íiì]nh[ \t]*g[ửừủưuứ]i[ \t]*[:;.]?", re.MULTILINE)
# stamp debris can precede it on the same line; then the colon is required
KINH_GUI_ANY_RE = re.compile(r"K[íiì]nh[ \t]*g[ửừủưuứ]i[ \t]*:")
# "VĂN PHÒNG CHÍNH PHỦ điện:" — a công điện addresses its recipients this way
DIEN_RE = re.compile(r"^[ \t]*[A-ZĐÀ-Ỹ][A-ZĐÀ-Ỹ ]{3,}[ \t]+điện[ \t]*:", re.MULTILINE)
NOI_NHAN_RE = re.compile(
    r"^[ \t*|]*(?:N[ơo][iỉíìị][ \t]*nh[ậaâ]n[ \t]*[:;.]?"  # "Nơi nhận:", "Nơỉ nhận"
    r"|[Nn][ơoóòờớởọôố][iỉíìịl][ \t]*nh[ậaâấầ]n[ \t]*:)\**",  # OCR "nói nhận:" needs its colon
    re.MULTILINE)
# the last item of a distribution list: found when the "Nơi nhận" anchor itself is unreadable
# "- Lưu: VT", also behind a little OCR debris where the bullet was ("kí Lưu: VT, NCKS.")
LUU_LINE_RE = re.compile(r"^[ \t|]*(?:[-–+•*~]|[^\s\w]{1,2}|\w{1,2}[ \t])?[ \t]*L[ưu°]u[ \t]*:", re.MULTILINE)
BULLET_RE = re.compile(r"^[ \t|]*[-–—+•*~][ \t]*")  # "| - …": OCR keeps a table border
LUU_RE = re.compile(r"^L[ưu°]u\b", re.IGNORECASE)
ITEM_STRIP = " \t-–—•+*;.,:|"


def _signer_tail(s: str) -> Optional[int]:
    """Index where right-column signature text starts in a list line, or None.

    "- UBND tỉnh; PHÓ GIÁM ĐỐC", "- Như trên; _ CHU TỊCH" (no lower-case letter after the last ";"),
    "Nơi nhận: KT. CHỦ TỊCH" (a signing prefix), "- Lưu: VT, NCKS. Lại Văn Hoàn" (a name)."""
    for _, pat in tables.signing_prefixes():
        m = re.search(r"(?:^|\s)(" + pat.pattern + r")\s*[A-ZĐÀ-Ỹ]{2,}", s)
        if m and m.start(1) > 0:
            return m.start(1)
    from .signer import case_title, name_shape

    for sep in (";", "."):
        i = s.rfind(sep)
        if i == -1:
            continue
        tail = s[i + 1:]
        if not tail.strip():
            continue
        if name_shape(tail):
            return i + 1
        is_luu = bool(LUU_RE.match(s.lstrip(" \t-–—+•*")))
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
        s, e = strip_span(text, s, e, " \t-–—•+*|")
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
    for ln in lines:
        raw = ln.text
        if not raw.strip():
            continue
        if stop(raw):
            break
        cut = _signer_tail(raw)
        end = ln.start + cut if cut is not None else ln.end
        if not text[ln.start:end].strip():
            continue
        if skip_upper and not BULLET_RE.match(raw) and upper_ratio(raw) >= 0.9 \
                and sum(c.isalpha() for c in raw) >= 4:
            continue  # the signature column's own line ("VỤ CẢI CÁCH HÀNH CHÍNH") between items
        if skip_upper and not BULLET_RE.match(raw) and ended and _is_name(raw):
            continue  # the signer's name, placed between items by a two-column layer
        if skip_upper and not BULLET_RE.match(raw) and _title_tail(raw):
            continue  # "Ti ti PHÓ CHỦ TỊCH": the signature column with OCR debris
        if BULLET_RE.match(raw):
            if items and LUU_RE.match(text[items[-1][0]:items[-1][1]]):
                break  # "Lưu" closes a distribution list
            if items and not allow_unbulleted and text[items[-1][1] - 1] == ".":
                break  # the last recipient ends with "."
            body = re.sub(r"^[\W_]+", "", raw)
            if re.match(r"(?:Thực hiện|Căn cứ|Theo|Xét)\b", body):
                break  # an OCR'd mark before the first body paragraph, not a bullet
            add(ln.start, end, True)
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
        key = value.casefold()
        if value and key not in seen:
            seen.add(key)
            out.append(Hit(value, s, e, "bullet_list", RULE))
    return out


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
    s = re.sub(r"[^\w)\]]+$", "", s)  # trailing ; . , ✓ and other debris
    s = s.strip(ITEM_STRIP)
    if LUU_RE.match(s):
        s = _clean_luu(s)
    return s


def _clean_luu(s: str) -> str:
    """"Lưu: VT, TH (2) Thạch" → "Lưu: VT, TH (2)": the drafter's name written after the filing codes
    is not a recipient; "Lưu: VT, PC06 (ĐI). Sl5: ý ˆ" loses the OCR debris after the codes. Codes
    are upper case ("VT, VXNV. PD" stays), a name in brackets stays ("CCHC&VTLT(Tín)")."""
    m = re.search(r"(?<=[)\w])\.\s+(?=\S*[^\w\s(),&.-])", s)
    if m:
        s = s[:m.start()]
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
    for i in range(idx - 1, max(-1, idx - 40), -1):
        raw = all_lines[i].text
        if not raw.strip():
            continue
        if BULLET_RE.match(raw):
            first = i
            continue
        if len(raw.strip()) < 60 and not raw.rstrip().endswith("./.") and i > 0 and BULLET_RE.match(all_lines[i - 1].text):
            continue  # continuation of the item above
        break
    anchor_line = all_lines[first - 1] if first > 0 else all_lines[first]
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
