"""Tasks: every assignment in a dispatch — who (assignee, coordinators), what, by when, which item.

Sources, tried in this order:
1. Task tables: `doc.pages[i].tables` (pdfplumber rows), or the same table arriving as
   tab-separated text lines.  Columns are found by their header words (Nhiệm vụ / chủ trì /
   phối hợp / thời gian); group rows ("I  Nhiệm vụ thực hiện trong Quý I", "… thường xuyên …") give
   the deadline of the rows under them; coordinators are split on ";" and leading "- ".
2. Prose, read as a tree of numbered items (I., 1., 1.2., a), -) over the paragraphs of the body
   (up to "Nơi nhận"; hard line wraps are re-joined: a paragraph starts after a line ending in
   . : ; ! ?).  An item yields tasks by its shape:
   - heading that is a body ("2. Sở Nội vụ (Ban Thi đua – Khen thưởng tỉnh)"): one task per
     lettered child, else one per paragraph under it; a paragraph that opens with its own subject
     ("Thành viên Hội đồng … thực hiện …") keeps that subject;
   - intro ending in ":" ("Giao Sở Nội vụ có trách nhiệm:", "Yêu cầu các cơ quan … như sau:"):
     its children inherit the addressed body;
   - action item: its own subject ("Sở X chủ trì, phối hợp với Y …", "Đề nghị Ủy ban MTTQ …
     thực hiện …", "Phòng Nội vụ thực hiện …"), else the body addressed by the paragraph that
     introduced the list ("UBND tỉnh yêu cầu các sở, ban, ngành … một số nội dung:"; a
     "(gọi chung là …)" alias wins).  No assignee → not a task (general objectives are not tasks).
   - "N. Sở X: Chủ trì …" (body, colon, action on one line): the body is the assignee;
   - top-level bullets right under an intro ("Giao UBND các huyện:\n- …\n- …") inherit it;
   - "Giao cơ quan, đơn vị chủ trì …" (an unnamed unit: no capital, no "các") inside a list addressed
     to X is X's task;
   - deadline-only lines (data/task_deadline_lines.txt: "Thời hạn: …", "- Thời gian hoàn thành: …")
     date the task above them and are no task of their own;
   - "Thời hạn <body> <action> … chậm nhất là ngày …" is a task of that body (rule:inline_deadline);
   - a statement "X là cơ quan thường trực …" with no action after it is no task;
   - closing paragraphs (data/task_closing.txt: "Trên đây…", "Trong quá trình…") end the list;
   - inline assignments anywhere: "Giao X …", "Giải pháp khắc phục: [Giao] X …", "Chủ tịch UBND
     tỉnh giao X …" (not "… về việc giao X", which is a cited document's subject);
   - "Điều N." articles of a quyết định are items like "N.".
   Subjects end at the first action word (data/task_verbs.txt, matched on lower case with
   diacritics — folded, "cử" would match "(cũ)" and "tải" "Tài chính" — with a folded fallback for
   OCR), must start with a body word (data/task_body_heads.txt, minus data/task_not_heads.txt:
   "Báo cáo" is not "Báo …") and must not end in a copula / negation ("… là", "… chưa": statements,
   not assignments).  underthesea 9.5 NER/POS was tried and not used: on "Sở Thông tin và Truyền
   thông chủ trì, phối hợp với Đài Phát thanh và Truyền hình Thái Bình, Báo Thái Bình …" it tags no
   body as ORG ("Sở Nội vụ" O, "Báo Thái Bình" PER, "Truyền thông" V, "chủ trì" N) and costs ~1 s
   per sentence on first load; the heads/verbs tables are right on these set phrases.
Coordinators: after "phối hợp (chặt chẽ) với/cùng", after a bare "phối hợp" when a body follows, or
between "chủ trì;" and "phối hợp" ("Sở X chủ trì; Sở Y, Tỉnh đoàn phối hợp …"); a list is split on ";"
and between proper names, not on "và" (gold keeps "Sở Nội vụ và các cơ quan …" as one).
Trailing qualifiers ("… theo chức năng, nhiệm vụ được giao": data/task_assignee_tails.txt) are cut
from an assignee.  Table deadline cells are read by dates.parse_deadline_cell (bare "Tháng 6/2024",
"Năm 2024", a range's end); "Sản phẩm hoàn thành" / "Kết quả thực hiện" columns are not the deadline
or lead columns.
Deadline: dates.parse_deadline on the task text (explicit date > month > quarter > recurring),
with the document year for "Quý I".  Item: the numbering path ("IV.2", "1.a)"; table rows
"<group>.<row>", e.g. "I.1").
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

from congvan.extractors.dates import (View, clean, document_year, fold, fold_same_length, folded_text, load_lines, make_view, parse_deadline,
                                      parse_deadline_cell)
from congvan.pipeline.document import Document
from congvan.schemas.record import Provenance, Task


# ---------------------------------------------------------------- tables of words
_fold_same_length = fold_same_length
_folded_text = folded_text


def _alt(words: list[str]) -> str:
    return "|".join(sorted((re.escape(fold(w)).replace(r"\ ", r"\s+") for w in words), key=len, reverse=True))


@lru_cache(None)
def _heads_rx() -> re.Pattern:
    """Body words matched on lower case *with* diacritics: folding would make "phòng" (a body)
    equal "phong" (trào)."""
    words = sorted((re.escape(w.lower()).replace(r"\ ", r"\s+") for w in load_lines("task_body_heads.txt")),
                   key=len, reverse=True)
    nots = sorted((re.escape(w.lower()).replace(r"\ ", r"\s+") for w in load_lines("task_not_heads.txt")),
                  key=len, reverse=True)
    return re.compile(rf"(?!(?:{'|'.join(nots)})(?![^\W\d_]))(?:{'|'.join(words)})(?![^\W\d_])")


@lru_cache(None)
def _heads_folded_rx() -> re.Pattern:
    """OCR fallback ("Các cợ quan"): folded heads, but never "phong trào"."""
    return re.compile(rf"(?!(?:cac\s+|nhung\s+)?phong\s+trao)(?:{_alt(load_lines('task_body_heads.txt'))})(?![a-z])")


@lru_cache(None)
def _not_heads_folded_rx() -> re.Pattern:
    return re.compile(rf"(?:{'|'.join(re.escape(fold(w)) for w in load_lines('task_not_heads.txt'))})(?![a-z])")


def _head_at(text: str, pos: int = 0) -> bool:
    low = text.lower()
    if _heads_rx().match(low, pos):
        return True
    f = _fold_same_length(low)
    m = _heads_folded_rx().match(f, pos)
    # folded, a one-syllable head is ambiguous ("bo" is Bộ and "Bố trí", "so" is Sở and "Số"):
    # only multi-syllable heads ("cac co quan" for OCR "Các cợ quan") may match without diacritics
    return bool(m) and bool(re.search(r"\s", m.group(0))) and not _not_heads_folded_rx().match(f, pos)


@lru_cache(None)
def _verbs_exact_rx() -> re.Pattern:
    """Action words on lower case *with* diacritics: folded, "cử" would match "(cũ)" and "tải" "Tài"."""
    words = sorted((re.escape(w.lower()).replace(r"\ ", r"\s+") for w in load_lines("task_verbs.txt")), key=len, reverse=True)
    return re.compile(rf"(?<![^\W\d_])(?<!các )(?:{'|'.join(words)})(?![^\W\d_])")


@lru_cache(None)
def _verbs_rx() -> re.Pattern:
    return re.compile(rf"(?<![a-z])(?<!cac )(?:{_alt(load_lines('task_verbs.txt'))})(?![a-z])")


def _first_verb(text: str, folded: str, pos: int):
    """The first action word at or after `pos`: exact (lower case) first; a folded match wins only
    when it is earlier and multi-syllable (OCR "chú trì" for "chủ trì"; a folded "cu"/"tai" would
    match "cũ"/"Tài")."""
    def first(rx: re.Pattern, hay: str):
        # a capitalised action word after the start is part of a proper name ("Ủy ban Kiểm tra
        # Tỉnh ủy", "Ban Tổ chức Tỉnh ủy"), not the action
        for m in rx.finditer(hay, pos):
            if not text[m.start():m.start() + 1].isupper():
                return m
        return None

    exact = first(_verbs_exact_rx(), text.lower())
    loose = first(_verbs_rx(), folded)
    if loose and " " in loose.group(0) and (not exact or loose.start() < exact.start()):
        return loose
    return exact or loose


@lru_cache(None)
def _closing() -> list[str]:
    return [fold(x) for x in load_lines("task_closing.txt")]


def is_body(text: str) -> bool:
    """Does `text` start like the name of a body (Sở …, Ủy ban …, các cơ quan …)?"""
    t = text.lstrip("-+• ")
    return _head_at(t)


@lru_cache(None)
def _tails_rx() -> re.Pattern:
    words = sorted((re.escape(w).replace(r"\ ", r"\s+") for w in load_lines("task_assignee_tails.txt")), key=len, reverse=True)
    return re.compile(rf",?\s+(?:{'|'.join(words)})\s*,?$", re.IGNORECASE)


def subject_of(text: str, folded: Optional[str] = None) -> Optional[tuple[str, int]]:
    """("Sở X", offset where the action starts) when `text` opens with a body followed by an action
    word; a leading "Đề nghị"/"Giao"/"Yêu cầu" is skipped and "có trách nhiệm" is eaten.
    `folded` is `_fold_same_length(text)` when the caller has it (a slice of the folded document:
    folding is per character, so the slice is the fold of the slice)."""
    f = _fold_same_length(text) if folded is None else folded
    lead = re.match(r"\s*(?:(?:trong|sau khi|tren co so|doi voi|khi|can cu)\b[^,.;:\n]{0,80},\s*)?(?:(?:de nghi|giao|yeu cau)[ \t]+)?", f)
    s = lead.end()
    if not _head_at(text, s):
        return None
    v = _first_verb(text, f, s + 2)
    if not v or v.start() - s > 220:
        return None
    name = clean(text[s:v.start()]).strip(" ,;:-")
    name = re.split(r"\s+-\s+(?=(?:đơn vị|cơ quan)\s)", name)[0]  # "Phòng 5, Cục … - đơn vị thường trực …"
    name = re.sub(r"(?:\s+(?:sẽ|đang|cần|phải|tiến hành))+$", "", name)  # "Bộ Nội vụ sẽ tiến hành | rà soát"
    name = re.sub(r"\s+(?:có\s+)?(?:nhiệm vụ|trách nhiệm)$", "", name)  # "Tổ công tác có nhiệm vụ | kiểm tra"
    name = _tails_rx().sub("", name)  # "Các sở, ban, ngành theo chức năng, nhiệm vụ được giao | có trách nhiệm"
    if re.search(r"[.!?]\s", name):
        return None  # ran over a sentence end: a statement, not a subject
    if name.count("(") > name.count(")"):
        return None
    if not name or ":" in name or re.search(r"\s(?:là|được|có|sẽ|đã|đang|về|chưa|không|vẫn|còn|kính)$", name):
        return None
    rest = v.start()
    if f.startswith("co trach nhiem", rest):
        rest += len("co trach nhiem")
    return name, rest


@lru_cache(None)
def _deadline_line_rx() -> re.Pattern:
    """A paragraph that only states a deadline ("Thời hạn: …", "- Thời gian hoàn thành: Quý II/2024")."""
    return re.compile(rf"[\s\-+•]*(?:{_alt(load_lines('task_deadline_lines.txt'))})\s*:")


def deadline_line(text: str, year: Optional[int]) -> Optional[str]:
    """The deadline a deadline-only line states, or None when `text` is not such a line."""
    if not _deadline_line_rx().match(_fold_same_length(text)):
        return None
    return parse_deadline(text, year) or parse_deadline_cell(text.split(":", 1)[1], year)


def _generic_unit(name: str) -> bool:
    """"cơ quan, đơn vị chủ trì", "đơn vị chuyên môn": an unnamed unit of the addressee, not a body
    of its own (no capital letter, not a plural group "các …")."""
    return not any(c.isupper() for c in name) and not re.match(r"(?:các|những)\s", name)


@lru_cache(None)
def _not_tasks() -> list[str]:
    return [fold(x) for x in load_lines("task_not_tasks.txt")]


def is_closing_formula(text: str) -> bool:
    """"Văn phòng …, các thành viên … chịu trách nhiệm thi hành Quyết định này": an article that
    names who executes the decision is a closing formula (data/task_not_tasks.txt), not a task."""
    f = fold(text)
    return any(p in f for p in _not_tasks())


_INTRO_TAIL = re.compile(
    r"\s*(?:(?:có trách nhiệm|thực hiện|triển khai)(?:\s+tốt)?\s*)?(?:(?:một số|các|những)\s+)?"
    r"(?:nội dung|nhiệm vụ|việc|công việc)?\s*(?:cụ thể\s*)?(?:như\s+)?(?:sau)?\s*:\s*$", re.I)


def addressed_in(text: str, loose: bool = False) -> Optional[str]:
    """The body a paragraph addresses: "(gọi chung là X)", else "yêu cầu/đề nghị/giao X <verb>"."""
    m = re.search(r"\(\s*(?:sau đây\s+)?gọi\s+chung\s+là\s+([^)]{3,80})\)", text, re.IGNORECASE)
    if m:
        return clean(m.group(1))
    m = re.match(r"\s*(?:Giao|Đề nghị|Yêu cầu)\s+(.{3,160}?)\s*(?:có trách nhiệm|thực hiện)?\s*:\s*$", text, re.S | re.I)
    if m and is_body(m.group(1)):
        return clean(m.group(1))
    # "…, Sở Giáo dục và Đào tạo đề nghị các đơn vị:" / "… yêu cầu các cơ quan thực hiện một số nội dung sau:"
    m = re.search(r"(?:^|[\s,])(?:giao|đề nghị|yêu cầu)\s+([^:;.()]{3,140}?:\s*)$", text, re.S | re.I)
    if m:
        who = _INTRO_TAIL.sub("", m.group(1))
        if who and is_body(who) and not _first_verb(who, _fold_same_length(who), 0):
            return clean(who)
    f = _fold_same_length(text)
    for m in re.finditer(r"(?<![a-z])(?:yeu cau|de nghi|giao)\s+", f):
        if f[max(0, m.start() - 4):m.start()].strip() == "xet":
            continue
        sub = subject_of(text[m.end():])
        if sub:
            return sub[0]
    if loose and re.search(r"(?:như|gồm|các nội dung|một số nội dung)\s+sau\s*:\s*$|như sau\s*:\s*$", text):
        # "…, các cấp, các ngành, các cơ quan đơn vị, địa phương phối hợp … với một số nhiệm vụ cụ thể như sau:"
        last = re.split(r"[.;]\s", text.rstrip())[-1]
        # the subject starts after a comma, or at a plural body word with no comma before it
        # ("… lĩnh vực các cấp, các ngành, … phối hợp"): the earliest start that reads as one wins
        starts = {c.end() for c in re.finditer(r",\s+", last)}
        low = last.lower()
        starts |= {m.start() for m in re.finditer(r"(?<=\s)các\s", last) if _heads_rx().match(low, m.start())}
        for st in sorted(starts):
            sub = subject_of(last[st:])
            if sub and len(sub[0]) <= 120:
                return sub[0]
    return None


def split_bodies(s: str) -> list[str]:
    """Coordinator list → bodies: split on ";" and bullets, and on ", " between two proper names."""
    out = []
    for part in s.split(";"):
        part = clean(part).strip(" .,-")
        if not part:
            continue
        pieces = re.split(r",\s+(?=[A-ZĐÂÊÔƠƯ])", part)
        if len(pieces) > 1 and all(p[:1].isupper() and is_body(p) for p in pieces):
            out.extend(p.strip(" .,") for p in pieces)
        else:
            out.append(part)
    return out


_COORD = re.compile(r"(?<![a-z])phoi\s+hop\s+(?:chat\s+che\s+)?(?:voi|cung)\s+")
_COORD_BARE = re.compile(r"(?<![a-z])phoi\s+hop\s+(?:chat\s+che\s+)?(?=[^\W\d_])")
_COORD_AFTER = re.compile(r"chủ\s+trì\s*[;,]\s*((?:(?![.:;]).){3,200}?)\s+(?:cùng\s+)?phối\s+hợp(?!\s+(?:chặt\s+chẽ\s+)?(?:với|cùng))")


def coordinators_in(text: str) -> list[str]:
    """Bodies after "phối hợp (chặt chẽ) với / cùng", or right after "phối hợp" when a body follows
    ("chủ trì, phối hợp Sở Y …"), up to the next action word; or the bodies named between "chủ trì;"
    and "phối hợp" ("Sở X chủ trì; Sở Y, Tỉnh đoàn phối hợp tổ chức …")."""
    f = _fold_same_length(text)
    m = _COORD.search(f)
    if not m:
        m = _COORD_BARE.search(f)
        if m and not _head_at(text, m.end()):
            m = None
    if not m:
        a = _COORD_AFTER.search(text)
        if a and all(is_body(p) for p in re.split(r",\s+|;\s*", a.group(1)) if p.strip()):
            return split_bodies(a.group(1))
        return []
    v = _first_verb(text, f, m.end() + 2)
    stop = re.compile(r"[.:;(]|\s(?:trong viec|de|nham)\s|\strong\s+(?:trien khai|thuc hien|qua trinh|cong tac|to chuc)\s"
                      ).search(f, m.end())
    ends = [x for x in (v.start() if v else None, stop.start() if stop else None) if x]
    e = min(ends) if ends else min(len(text), m.end() + 160)
    if e - m.end() > 200:
        return []
    return split_bodies(text[m.end():e])


# ---------------------------------------------------------------- tables
_ROMAN_RX = re.compile(r"^\s*([IVX]{1,4})\b\.?\s*(.*)$", re.S)


def _col_roles(header: list[str]) -> dict[str, int]:
    roles: dict[str, int] = {}
    for i, h in enumerate(header):
        f = fold(h or "")
        if "stt" in f.replace(" ", "") or re.fullmatch(r"(so ?)?tt", f):
            roles.setdefault("stt", i)
        elif re.match(r"(?:san pham|ket qua|ghi chu|kinh phi|nguon kinh phi|hinh thuc|can cu)\b", f):
            continue  # "Sản phẩm hoàn thành", "Kết quả thực hiện": not the deadline / lead columns
        elif "phoi hop" in f:
            roles.setdefault("coord", i)
        elif "chu tri" in f or "thuc hien" in f or "don vi" in f or "co quan" in f:
            roles.setdefault("lead", i)
        elif "thoi gian" in f or "thoi han" in f or "hoan thanh" in f or "tien do" in f:
            roles.setdefault("deadline", i)
        elif "nhiem vu" in f or "noi dung" in f or "cong viec" in f:
            roles.setdefault("task", i)
    return roles


def _is_header(row: list[str]) -> bool:
    """A header row: short cells naming the roles (a task row mentioning "đơn vị" is not one)."""
    if any(len(clean(c or "")) > 50 for c in row):
        return False
    r = _col_roles(row)
    return "task" in r and "lead" in r


def _first_body(cell: str) -> str:
    """A lead cell that repeats its body ("Sở Nội vụ (Ban …) Sở Nội vụ (Ban TĐKT tỉnh)") → first."""
    c = clean(cell)
    words = c.split()
    if len(words) >= 4:
        head = " ".join(words[:2])
        k = c.find(head, len(head))
        if k > 0:
            return c[:k].strip()
    return c


@dataclass
class _Row:
    cells: list[str]
    start: int = -1  # view offset of the row (text tables) or -1


def _rows_to_tasks(rows: list[_Row], roles: dict[str, int], year: Optional[int]) -> list[dict]:
    out: list[dict] = []
    group, group_deadline = None, None
    ncol = max(roles.values()) + 1

    def cell(r: _Row, role: str) -> str:
        i = roles.get(role)
        return clean(r.cells[i]) if i is not None and i < len(r.cells) and r.cells[i] else ""

    for r in rows:
        if _is_header(r.cells):  # the header repeated on the next page
            continue
        cells = r.cells + [""] * (ncol - len(r.cells))
        stt = cell(r, "stt") if "stt" in roles else clean(cells[0])
        task = cell(r, "task")
        m = _ROMAN_RX.match(stt) if stt else None
        if m and not task and m.group(2):  # "III Nhiệm vụ thực hiện trong quý III" in one cell
            task = m.group(2)
            stt = m.group(1)
        if stt and _ROMAN_RX.fullmatch(stt) and re.fullmatch(r"[IVX]{1,4}\.?", stt) and not cell(r, "lead"):
            group = stt.rstrip(".")
            group_deadline = parse_deadline(task, year)
            continue
        if not stt and out and (not cell(r, "lead") or r.start == -2):
            # continuation of the previous row (wrapped cell)
            prev = out[-1]
            prev["text"] = clean(prev["text"] + " " + task)
            if cell(r, "coord"):
                prev["coord_raw"] += " " + cell(r, "coord")
            continue
        if not task or not cell(r, "lead"):
            if out and not stt:
                out[-1]["text"] = clean(out[-1]["text"] + " " + task)
            continue
        num = re.sub(r"[.)]$", "", stt)
        deadline = parse_deadline_cell(cell(r, "deadline"), year) if cell(r, "deadline") else None
        out.append(dict(
            text=task, assignee=_first_body(cell(r, "lead")), coord_raw=cell(r, "coord"),
            deadline=deadline or group_deadline or parse_deadline(task, year, recurring=False),
            item=f"{group}.{num}" if group else num, start=r.start if r.start >= -2 else -1,
            page=-3 - r.start if r.start <= -3 else None,
        ))
    for t in out:
        t["coordinators"] = split_bodies(t.pop("coord_raw"))
    return out


def _tasks_from_page_tables(doc: Document, year: Optional[int]) -> list[dict]:
    """pdfplumber tables; a table that continues on the next page (header repeated, or no header
    but the same number of columns) keeps its group rows ("Quý II") across the break."""
    out: list[dict] = []
    roles: Optional[dict[str, int]] = None
    ncols = 0
    pending: list[_Row] = []

    def flush() -> None:
        if roles and pending:
            out.extend(_rows_to_tasks(pending, roles, year))

    for page in doc.pages:
        for table in page.tables or []:
            # cells come from the raw layer: give them the page text's repairs (legacy-font "th°ởng")
            rows = [[make_view(c).text if c else "" for c in row] for row in table if row]
            if not rows:
                continue
            hi = next((i for i, r in enumerate(rows[:3]) if _is_header(r)), None)
            if hi is not None:
                new_roles = _col_roles(rows[hi])
                if new_roles != roles or len(rows[hi]) != ncols:
                    flush()
                    pending = []
                    roles, ncols = new_roles, len(rows[hi])
                body = rows[hi + 1:]
            elif roles and len(rows[0]) == ncols:
                body = rows
            else:
                continue
            pending.extend(_Row(r, -3 - page.number) for r in body)
    flush()
    return out


def _tasks_from_tab_lines(vt: str, year: Optional[int]) -> tuple[list[dict], list[tuple[int, int]]]:
    """Tables flattened to text with tab-separated cells (one row a line, wrapped cells continue
    on lines that start with a tab)."""
    out, spans = [], []
    lines = [(m.start(), m.group(0)) for m in re.finditer(r"[^\n]*", vt)]
    i = 0
    while i < len(lines):
        start, line = lines[i]
        if line.count("\t") >= 2 and _is_header(line.split("\t")):
            roles = _col_roles(line.split("\t"))
            rows, j, end = [], i + 1, start + len(line)
            while j < len(lines):
                s2, l2 = lines[j]
                if not l2.strip():
                    j += 1
                    continue
                if "\t" not in l2:
                    # a page break inside the table: page number / form feed, then the header again
                    k = j
                    while k < len(lines) and re.fullmatch(r"[\s\f]*\d{0,3}[\s\f]*", lines[k][1]):
                        k += 1
                    if k > j and k < len(lines) and _is_header(lines[k][1].split("\t")):
                        j = k + 1
                        continue
                    break
                cells = l2.split("\t")
                row = _Row(cells, s2)
                if not cells[0].strip():
                    row.start = -2  # continuation
                rows.append(row)
                end = s2 + len(l2)
                j += 1
            out.extend(_rows_to_tasks(rows, roles, year))
            spans.append((start, end))
            i = j
        else:
            i += 1
    return out, spans


# ---------------------------------------------------------------- prose
_MARK = re.compile(
    r"[ \t^]*(?:[:;'‘’|_][ \t]*)?(?:(?P<dieu>Điều\s+\d{1,3})\.|(?P<roman>[IVX]{1,4})\.|(?P<num>\d{1,2}(?:\.\d{1,2})*)\.(?!\d)|(?P<letter>[a-zđ])\)|(?P<bullet>[-+•]))[ \t]+(?=\S)")


@dataclass
class _Item:
    level: int
    label: str
    start: int  # marker start
    body: int  # text start after marker
    end: int = 0  # own text end (next marker / barrier)
    extent: int = 0  # end of the item with its children
    parent: Optional["_Item"] = None
    children: list["_Item"] = field(default_factory=list)

    def path(self) -> str:
        parts, it = [], self
        while it is not None:
            if it.level < 11 and not (parts and parts[-1].startswith(it.label + ".")):
                parts.append(it.label)
            it = it.parent
        return ".".join(reversed(parts))


def _line_facts(line: str) -> Optional[tuple[bool, int, str]]:
    """What `_paragraph_starts` needs of one line: None for a blank line, else (opens with an
    item marker, indent before the text, the character it leaves as "previous line end")."""
    if not line.strip():
        return None
    end_char = line.rstrip()[-1:]
    letters = "".join(filter(str.isalpha, line))
    if len(letters) >= 6 and sum(map(str.isupper, letters)) / len(letters) > 0.8:
        end_char = "."  # an upper-case heading line ("III. TỔ CHỨC THỰC HIỆN") ends its own paragraph
    return bool(_MARK.match(line)), len(line) - len(line.lstrip(" \t^")), end_char


@lru_cache(maxsize=8)
def _line_table(vt: str) -> tuple[list[int], list[int], list[Optional[tuple[bool, int, str]]]]:
    """(starts, ends, facts) of every line of `vt`, computed once per text: the prose reader asks
    for the paragraph starts of many overlapping stretches of the same text."""
    starts, ends, facts, pos = [], [], [], 0
    for line in vt.split("\n"):
        starts.append(pos)
        ends.append(pos + len(line))
        facts.append(_line_facts(line))
        pos += len(line) + 1
    return starts, ends, facts


@lru_cache(maxsize=256)
def _paragraph_starts(vt: str, lo: int, hi: int) -> tuple[int, ...]:
    """Offsets of lines that start a paragraph: the previous non-empty line ends a sentence.
    Lines are read from `lo` to `hi`; a line cut by either bound is judged on its part inside.
    Memoised (a tuple, so no caller can change it): the item builder, the intro scan and the
    inline scan all ask for the whole body's starts."""
    line_starts, line_ends, facts = _line_table(vt)
    out, prev_end_char = [], "."
    i = max(0, bisect.bisect_right(line_starts, lo) - 1)
    while i < len(line_starts) and line_starts[i] < hi:
        a, b = max(line_starts[i], lo), min(line_ends[i], hi)
        fact = facts[i] if (a, b) == (line_starts[i], line_ends[i]) else (_line_facts(vt[a:b]) if a < b else None)
        i += 1
        if fact is None:
            continue
        marked, indent, end_char = fact
        if prev_end_char in ".:;!?" or marked:
            out.append(a + indent)
        prev_end_char = end_char
    return tuple(out)


# the signature block's first line ("TM. ỦY BAN NHÂN DÂN", OCR "x TM. …") ends the body when the
# "Nơi nhận" heading was lost
_SIGNATURE_LINE = re.compile(r"[^\n]{0,3}?\b(?:TM|KT|TL|TUQ|T/M|K/T)\.?[ \t]+[A-ZĐ]{2,}[A-ZĐ \t]*(?:\n|$)")


def _build_items(vt: str, lo: int, hi: int, skip: list[tuple[int, int]]) -> tuple[list[_Item], list[int]]:
    f = _folded_text(vt)
    pstarts = [p for p in _paragraph_starts(vt, lo, hi) if not any(a <= p < b for a, b in skip)]
    items: list[_Item] = []
    barriers: list[int] = []
    for p in pstarts:
        line_start = vt.rfind("\n", 0, p) + 1
        m = _MARK.match(vt, line_start)
        if m and m.end() > p - 1:
            if m.group("dieu"):
                lvl, lab = 1, re.sub(r"\s+", " ", m.group("dieu"))
            elif m.group("roman"):
                lvl, lab = 0, m.group("roman")
            elif m.group("num"):
                lab = m.group("num")
                lvl = lab.count(".") + 1
            elif m.group("letter"):
                lvl, lab = 10, m.group("letter") + ")"
            else:
                lvl, lab = 11, "-"
            items.append(_Item(lvl, lab, line_start, m.end()))
        elif any(f.startswith(c, p) for c in _closing()) or _SIGNATURE_LINE.match(vt, p):
            barriers.append(p)
    # own text ends at the next item / barrier / paragraph-level stop
    bounds = sorted([it.start for it in items] + barriers + [hi])
    for it in items:
        it.end = next(b for b in bounds if b > it.start)
        if it.level == 11:  # a bullet is one paragraph
            it.end = next((p for p in pstarts if p > it.body), it.end) if any(p > it.body for p in pstarts) else it.end
            it.end = min(it.end, next(b for b in bounds if b > it.start))
    # tree; a closing paragraph ends the list at every level (bullets of the "Nơi nhận" list after
    # "Trên đây là Kế hoạch …" are not sub-items of the last numbered item)
    stack: list[_Item] = []
    for it in items:
        if stack and any(stack[-1].start < bpos < it.start for bpos in barriers):
            stack = []
        while stack and stack[-1].level >= it.level:
            stack.pop()
        it.parent = stack[-1] if stack else None
        if it.parent:
            it.parent.children.append(it)
        stack.append(it)
    for idx, it in enumerate(items):
        nxt = [o.start for o in items[idx + 1:] if o.level <= it.level]
        nb = [b for b in barriers if b > it.start]
        it.extent = min([hi] + nxt[:1] + nb[:1])
    return items, barriers


def _paragraphs(vt: str, s: int, e: int) -> list[tuple[int, int]]:
    starts = [p for p in _paragraph_starts(vt, s, e) if p >= s] or [s]
    if starts[0] > s and vt[s:starts[0]].strip():
        starts.insert(0, s)
    out = []
    for i, p in enumerate(starts):
        q = starts[i + 1] if i + 1 < len(starts) else e
        a, b = p, q
        while a < b and vt[a].isspace():
            a += 1
        while b > a and vt[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


def _first_line(vt: str, s: int, e: int) -> tuple[str, int]:
    """The heading line of an item, with its wrapped continuation lines (next line lower case, or
    this line ending in "," "-" "và"); returns (text, offset after it)."""
    pos = s
    while True:
        nl = vt.find("\n", pos, e)
        if nl == -1:
            return vt[s:e], e
        line = vt[pos:nl].rstrip()
        nxt = vt[nl + 1:e].lstrip(" \t")
        wrapped = (nxt[:1] and not nxt[:1].isupper()) or re.search(r"(?:[,\-–]|\bvà)$", line)
        if not wrapped or not nxt or _MARK.match(nxt) or nxt.startswith("\n"):
            return vt[s:nl], nl
        pos = nl + 1


def _is_heading_body(vt: str, it: _Item) -> Optional[str]:
    """The body an item's heading names ("2. Sở Nội vụ (Ban Thi đua – Khen thưởng tỉnh)"), or None:
    a heading is short, not upper case (header lines are), and has no action word outside ( )."""
    if it.level >= 11:
        return None
    line, nl = _first_line(vt, it.body, it.end)
    line = clean(line)
    if not line or len(line) > 200 or line[-1:] in ".;:,-–" or not (vt[nl:it.end].strip() or it.children):
        return None
    letters = "".join(filter(str.isalpha, line))
    if letters and sum(map(str.isupper, letters)) / len(letters) > 0.6:
        return None
    f = fold(line)
    lead = re.match(r"(?:de nghi|giao)\s+", f)
    name = line[lead.end():] if lead else line
    if not is_body(name):
        return None
    bare = re.sub(r"\([^)]*\)", " ", name)
    if _first_verb(bare, _fold_same_length(bare), 3):
        return None
    return name.strip()


def body_colon(text: str) -> Optional[tuple[str, int]]:
    """"Sở Nội vụ: Chủ trì, phối hợp …" — a body, a colon and its action on the same line: (body,
    offset of the action).  Not a label ("Thời hạn: …", "Lưu ý: …": no body) nor an intro (nothing after ":")."""
    m = re.match(r"\s*([^:\n]{3,150}?)\s*:[ \t]*(?=\S)", text)
    if not m or not is_body(m.group(1)):
        return None
    name = clean(m.group(1))
    if _first_verb(name, _fold_same_length(name), 2) or len(clean(text[m.end():])) < 8:
        return None
    return name, m.end()


def _task(vt: str, s: int, e: int, assignee: str, item: str, year: Optional[int], method: str,
          conf: float, coords: Optional[list[str]] = None) -> Optional[dict]:
    text = clean(vt[s:e]).strip(" -")
    text = re.sub(r"\s*\./\.\s*$", ".", text)
    if len(text) < 8 or is_closing_formula(text):
        return None
    lc = re.search(r"\slà\s+cơ\s+quan\s", text)
    if lc and not _first_verb(text, _fold_same_length(text), lc.end()):
        return None  # "Sở Nội vụ là cơ quan thường trực của Hội đồng.": a statement, no action follows
    return dict(text=text, assignee=assignee, coordinators=coords if coords is not None else coordinators_in(text),
                deadline=parse_deadline(text, year), item=item or None, start=s, end=e, method=method, conf=conf)


def _tasks_from_prose(vt: str, lo: int, hi: int, skip: list[tuple[int, int]], year: Optional[int]) -> list[dict]:
    items, barriers = _build_items(vt, lo, hi, skip)
    out: list[dict] = []

    def free_paras(s: int, e: int) -> list[tuple[int, int]]:
        """Paragraphs of [s, e) outside the skipped table stretches."""
        return [(a, b) for a, b in _paragraphs(vt, s, e) if not any(x <= a < y for x, y in skip)]

    assigned: dict[int, Optional[str]] = {}  # id(item) → inherited assignee for its children
    deadlines: dict[int, str] = {}  # id(item) → deadline its intro states for its children

    # intro paragraphs ending in ":" address the list that follows: outside numbered items they set
    # a default until the next closing paragraph; inside an item's own text they address its children
    intros: list[tuple[int, str]] = []
    item_starts = {it.start for it in items}
    for a, b in _paragraphs(vt, lo, hi):
        if any(x <= a < y for x, y in skip) or not vt[a:b].rstrip().endswith(":"):
            continue
        line_start = vt.rfind("\n", 0, a) + 1
        if line_start in item_starts:
            continue
        owner = next((it for it in reversed(items) if it.level < 11 and it.body <= a < it.end), None)
        # inside an item, "…, các cấp, các ngành … phối hợp … nhiệm vụ cụ thể như sau:" also addresses
        # (a preamble's "Sở Nội vụ báo cáo … như sau:" is the issuer speaking, not an addressee)
        who = addressed_in(vt[a:b], loose=owner is not None)
        if not who:
            continue
        if owner is not None:
            assigned.setdefault(id(owner), who)
        else:
            intros.append((a, who))

    def inherited(it: _Item) -> Optional[str]:
        par = it.parent
        while par is not None:
            if assigned.get(id(par)):
                return assigned[id(par)]
            par = par.parent
        before = [(a, w) for a, w in intros if a < it.start]
        if not before:
            return None
        a, w = before[-1]
        if any(a < bpos < it.start for bpos in barriers):
            return None
        return w

    item_at = {it.start: it for it in items}

    def bullet_of_intro(it: _Item) -> bool:
        """A top-level bullet right under an intro paragraph ("Giao Ủy ban nhân dân các huyện:\n- …\n- …"):
        only bullets stand between the intro and it."""
        if it.parent is not None:
            return False
        before = [a for a, _ in intros if a < it.start]
        if not before:
            return False
        a = before[-1]
        for p in _paragraph_starts(vt, a, it.start):
            ls = vt.rfind("\n", 0, p) + 1
            if p > a + 1 and not (ls in item_at and item_at[ls].level == 11):
                return False
        return inherited(it) is not None

    for it in items:
        own_end = it.children[0].start if it.children else it.end
        own = vt[it.body:own_end]
        own_clean = clean(own)
        heading = _is_heading_body(vt, it)
        if heading:
            assigned[id(it)] = heading
            if any(c.level == 10 for c in it.children):
                continue  # lettered children carry the tasks
            _, nl = _first_line(vt, it.body, own_end)
            for a, b in free_paras(nl, own_end):
                dl = deadline_line(vt[a:b], year)
                if dl is not None or _deadline_line_rx().match(_fold_same_length(vt[a:b])):
                    if out and out[-1]["item"] == (it.path() or None) and not out[-1]["deadline"]:
                        out[-1]["deadline"] = dl
                    continue  # "Thời hạn: …" under the task it dates
                sub = subject_of(vt[a:b])
                who = sub[0] if sub else heading
                t = _task(vt, a, b, who, it.path(), year, "rule:heading_body", 0.8)
                if t:
                    out.append(t)
            continue
        if own_clean.endswith(":") and (it.children or vt[it.end:it.extent].strip()):
            # intro: "Giao Sở Nội vụ có trách nhiệm:", "1. Yêu cầu các cơ quan … như sau:"
            who = addressed_in(own, loose=True) or (subject_of(own) or (None,))[0]
            if not who:
                # "2. Công an các huyện, thành phố:": the heading is the body its children address
                bare = clean(own).rstrip(": ")
                if len(bare) <= 120 and is_body(bare) and not _first_verb(bare, _fold_same_length(bare), 2):
                    who = bare
            if who:
                assigned[id(it)] = who
            dl = parse_deadline(own, year, recurring=False)
            if dl:
                deadlines[id(it)] = dl  # "… từ nay đến cuối năm 2024; cụ thể như sau:"
            continue
        if it.level == 11 and (it.parent is None or not assigned.get(id(it.parent))) and not bullet_of_intro(it):
            continue  # bullets belong to their parent's text unless the parent is an intro/heading
        own_folded = _folded_text(vt)[it.body:own_end]
        sub = subject_of(own, own_folded) or body_colon(own)
        if sub and re.match(r"\s*giao\s", own_folded) and _generic_unit(sub[0]) and inherited(it):
            # "đề nghị các bộ, tỉnh …: - Giao cơ quan, đơn vị chủ trì làm đầu mối …": the addressee assigns
            # one of its own units; the task is the addressee's
            sub = (inherited(it), sub[1])
        first_sentence = re.split(r"\.\s", own, maxsplit=1)[0]
        who = sub[0] if sub else (addressed_in(first_sentence) or inherited(it))
        if not who:
            # a later paragraph of the item may name its own subject ("Trong thời hạn 60 ngày, Ban X có trách nhiệm …")
            for a, b in free_paras(it.body, own_end)[1:]:
                psub = subject_of(vt[a:b])
                if psub:
                    t = _task(vt, a, b, psub[0], it.path(), year, "rule:item_subject", 0.8)
                    if t:
                        out.append(t)
            continue
        # only the first paragraph of an action item (continuation paragraphs elaborate it)
        paras = _paragraphs(vt, it.body, own_end)
        a, b = paras[0] if paras else (it.body, own_end)
        b = max(b, paras[-1][1]) if paras else b
        t = _task(vt, a, b, who, it.path(), year, "rule:item" if not sub else "rule:item_subject",
                  0.75 if not sub else 0.85)
        if t:
            if not t["deadline"]:
                for c in it.children:
                    if c.level == 11:
                        dl = deadline_line(vt[c.body:c.end], year) if _deadline_line_rx().match(
                            _fold_same_length(vt[c.start:c.end])) else None
                        if dl:
                            t["deadline"] = dl
                            break
            if not t["deadline"]:
                par = it.parent
                while par is not None and not t["deadline"]:
                    t["deadline"] = deadlines.get(id(par))
                    par = par.parent
            out.append(t)

    # inline assignments anywhere in the body: "… Giao Sở Nội vụ có trách nhiệm theo dõi …",
    # "Giải pháp khắc phục: Giao Văn phòng UBND tỉnh rà soát …", "Chủ tịch UBND tỉnh giao Sở Nội vụ …"
    inline = re.compile(r"(?:(?<=[.:;]\s)|(?<=\n)|(?<=^))[ \t^]*(?:Giao\s+)"
                        r"|(?:Chủ tịch|UBND|Ủy ban nhân dân)[^.;:\n]{0,60}?\s(giao)\s+"
                        r"|Giải\s+pháp(?:\s+khắc\s+phục)?\s*:\s*(?:Giao\s+)?"
                        r"|(?<=\s)(?P<req>[đĐ]ề\s+nghị|[yY]êu\s+cầu)\s+"
                        r"|(?:(?<=[.:;]\s)|(?<=\n)|(?<=^))[ \t\-]*(?P<due>Thời\s+hạn)\s+(?=[^\W\d_])", re.MULTILINE)
    covered = [(t["start"], t["end"]) for t in out]
    pstarts = _paragraph_starts(vt, lo, hi)
    fv = _folded_text(vt)
    for m in inline.finditer(vt, lo, hi):
        if any(a <= m.start() < b for a, b in skip):
            continue
        s = m.end()  # the assignee follows "Giao" / "… giao" / "Giải pháp khắc phục:"
        sub = subject_of(vt[s:hi], fv[s:hi])
        if not sub:
            continue
        if any(a - 12 <= m.start() <= b for a, b in covered):
            continue  # already read as an item
        if m.group("req"):
            if any(it.start <= m.start() <= it.body + 2 for it in items):
                continue  # "4. Đề nghị Ủy ban MTTQ …": the item itself, read above
            pstart = max((p for p in pstarts if p <= m.start()), default=lo)
            if any(fv.startswith(c, pstart) for c in _closing()):
                continue  # "Trên đây là Kế hoạch …, đề nghị các cơ quan … triển khai thực hiện"
            # "…, Phòng Nội vụ đề nghị UBND các xã báo cáo … trước ngày 10/3/2024": a request with its
            # own subject; not "Xét đề nghị" / "theo đề nghị" (a cited request) nor a one-line closing
            # ("đề nghị các xã quan tâm thực hiện./.")
            before = fold(vt[max(0, m.start() - 12):m.start()])
            rest = re.split(r"\.(?:/\.)?(?=\s|$)|\n\s*\n", vt[s + sub[1]:hi], maxsplit=1)[0]
            if re.search(r"(?:xet|theo|tai|co|cua|duoc|va|hoac|de|se|thi|khi|can|phai)\s*$", before) \
                    or len(clean(rest)) < 30 \
                    or re.search(r":\s*(?:\n|$)", rest):  # an intro: its list follows
                continue
        if vt[s + sub[1]:s + sub[1] + 3].strip().startswith(":") or re.search(r"về\s+việc\s*$", vt[max(0, m.start() - 12):m.start() + 6]) \
                or (m.group(1) and "về việc" in vt[m.start():m.end()]):
            continue  # an intro ("Giao Sở Nội vụ có trách nhiệm:") or a cited document's subject
        stop = re.search(r"\.(?:/\.)?(?=\s|$)|\n\s*\n", vt[s + sub[1]:hi])
        e = s + sub[1] + (stop.start() if stop else hi - s - sub[1])
        owner = next((it for it in reversed(items) if it.body <= s < it.extent and it.level < 11), None)
        # "Thời hạn các sở, ngành gửi danh sách … chậm nhất là ngày …": the deadline sentence names who
        t = _task(vt, m.start("due") if m.group("due") else s, e, sub[0], owner.path() if owner else "", year,
                  "rule:inline_deadline" if m.group("due") else "rule:inline", 0.75)
        if t:
            out.append(t)
            covered.append((s, e))
    return out


# ---------------------------------------------------------------- locating table rows in the text
def _locate_row(vt: str, text: str, doc: Document, page: Optional[int]) -> tuple[int, int]:
    """View span of a pdfplumber row's task cell. A text layer interleaves the columns line by line,
    so the cell's text is contiguous only up to its first wrap: look for its first 40 characters,
    then for its first words, on the row's page first."""
    lo = 0
    if page and doc.page_starts and 0 < page <= len(doc.page_starts):
        lo = doc.page_starts[page - 1]
    words = text.split()
    for probe in (text[:40], " ".join(words[:5]), " ".join(words[:3])):
        if len(probe) < 8:
            continue
        k = vt.find(probe, lo)
        if k < 0:
            k = vt.find(probe)
        if k >= 0:
            return k, k + len(text)
    return -1, -1


def _table_regions(vt: str, rows: list[dict]) -> list[tuple[int, int]]:
    """The stretch of text each page's table occupies (its header line to the blank line after its
    last located row), so the prose reader does not take the flattened cells for paragraphs."""
    by_page: dict[Optional[int], list[dict]] = {}
    for t in rows:
        if t["start"] >= 0:
            by_page.setdefault(t.get("page"), []).append(t)
    out = []
    for ts in by_page.values():
        a = min(t["start"] for t in ts)
        b = max(t["end"] for t in ts)
        a = vt.rfind("\n", 0, a) + 1
        back = vt[max(0, a - 400):a]
        for m in re.finditer(r"[^\n]*\n", back):
            f = fold(m.group(0))
            if "nhiem vu" in f and ("chu tri" in f or "phoi hop" in f or re.search(r"\btt\b", f)):
                a = max(0, a - 400) + m.start()
                break
        # then the wrapped cells of the other columns, up to a blank line or a numbered heading
        eol = vt.find("\n", b)
        b = len(vt) if eol < 0 else eol
        while b < len(vt):
            eol = vt.find("\n", b + 1)
            line = vt[b + 1:eol if eol >= 0 else len(vt)]
            if not line.strip() or _MARK.match(line):
                break
            b = eol if eol >= 0 else len(vt)
        out.append((a, b))
    return out


# ---------------------------------------------------------------- entry point
_NOI_NHAN = re.compile(r"^\W*noi\s+nhan\s*:", re.MULTILINE)


def find_tasks(doc: Document) -> list[Task]:
    """Every assignment in `doc`: table rows first, then prose items (see module docstring)."""
    view: View = make_view(doc.text)
    vt = view.text
    year = document_year(vt)
    m = _NOI_NHAN.search(_folded_text(vt))
    hi = m.start() if m else len(vt)
    # a "Nơi nhận" block before most of the body (page order) must not cut the body short
    if m and m.start() < len(vt) * 0.3:
        hi = len(vt)

    found: list[dict] = []
    table_tasks = _tasks_from_page_tables(doc, year)
    tab_tasks, spans = _tasks_from_tab_lines(vt, year)
    if table_tasks:
        for t in table_tasks:  # locate the row text for provenance
            t["start"], t["end"] = _locate_row(vt, t["text"], doc, t.get("page"))
            page = next((p for p in doc.pages if p.number == t.get("page")), None)
            if page is not None and page.source == "ocr":  # grid from ruling lines + OCR word boxes
                t["method"], t["conf"] = "table:ocr_grid", round(0.9 * (page.ocr_confidence or 0.9), 3)
            else:
                t["method"], t["conf"] = "table:pdfplumber", 0.9
        found.extend(table_tasks)
        spans = spans + _table_regions(vt, table_tasks)
    else:
        for t in tab_tasks:
            t["end"] = t["start"] + len(t["text"]) if t["start"] >= 0 else -1
            t["method"], t["conf"] = "table:tab_lines", 0.85
        found.extend(tab_tasks)
    found.extend(_tasks_from_prose(vt, 0, hi, spans, year))

    out = []
    for t in found:
        if t.get("start", -1) >= 0:
            s, e = view.span(t["start"], t["end"])
            prov = Provenance(page=doc.page_at(s), start=s, end=e, method=t["method"], confidence=t["conf"])
        else:
            prov = Provenance(page=t.get("page"), method=t["method"], confidence=t["conf"])
        out.append(Task(text=t["text"], assignee=t["assignee"], coordinators=t["coordinators"],
                        deadline=t["deadline"], item=t["item"], prov=prov))
    return out
