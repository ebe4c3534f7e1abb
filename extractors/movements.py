"""Movements: named phong trào thi đua / cuộc vận động cited in a dispatch.

Finding: names are quoted (“ ”, " ", or the legacy-font < = the text view turns into “ ”), often
across line breaks and with a stray quote from OCR.  A quotation is a movement when the last
context word before it (data/movement_context.json) is a movement word (phong trào, cuộc vận động,
thi đua) rather than another noun (chủ đề, Kỷ niệm chương, Đề án, gương …), or when it continues a
list of accepted movements ("phong trào “A”, “B”, phong trào “C”").  So chủ đề điều hành
"Kỷ cương trách nhiệm…", Kỷ niệm chương "Vì sự nghiệp…" and gương "Người tốt, việc tốt" are not
movements (decision: "Người tốt, việc tốt" counts only when introduced as a phong trào).  An
unquoted name after "phong trào (thi đua)" counts when it closely matches a known movement, or when
the words after a trigger (phong trào (thi đua), cuộc vận động, đợt thi đua) read as a name
(data/movement_unquoted.json): capitalised ("Cuộc vận động Người Việt Nam ưu tiên …"), opening like
a campaign name ("… thi đua đặc biệt lập thành tích chào mừng …", at least 4 words, not after
"các"/"những"), or a non-generic phrase followed by its period or launcher ("… giai đoạn 2021-2025",
"… do Tỉnh ủy phát động").  Generic mentions (yêu nước, thường xuyên, chuyên đề, "thi đua thực hiện
nhiệm vụ … năm 2024", upper-case headings) are never names.  Such a name ends at . ; : a quote, a
tab, a stop word ("được", "do", "trên địa bàn" …) or a comma before a new clause / action word; a
shorter unquoted mention of a movement already found in the document is merged into it.

Period: "giai đoạn 2021 - 2025" inside or right after the quote → "2021-2025"; "đến năm 2025" →
"-2025" (open start: the deadline of a movement); "trong năm 2025" → "2025".
launched_by: "do <X> phát động" in the same sentence before the name (a list shares it) or right
after it.

Canonical name (clusters wordings across documents):
  1. strip the period phrase, fold diacritics and case, drop punctuation and generic leading words
     ("cả nước", "toàn dân", "toàn quốc" …: they vary by who re-launches a national movement);
  2. compare with the alias table (data/movement_aliases.json, national movements) by rapidfuzz
     token_set_ratio ≥ 88 — token-set because local variants add words ("… nông thôn mới nâng
     cao, nông thôn mới kiểu mẫu", "Doanh nghiệp Ninh Thuận …") — best score wins;
  3. otherwise the name itself without its period is its own canonical.
So "Cả nước chung sức…", "Toàn dân chung sức…" and "Chung sức xây dựng nông thôn mới nâng cao,
nông thôn mới kiểu mẫu" are one canonical, "Cả nước chung sức xây dựng nông thôn mới".
Within a document movements are deduplicated by canonical (first span kept, period and
launched_by merged).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

from rapidfuzz import fuzz

from congvan.extractors.dates import View, clean, fold_same_length, folded_text, fold, load_json, load_lines, make_view
from congvan.pipeline.document import Document
from congvan.schemas.record import Movement, Provenance

MATCH_THRESHOLD = 88
UNQUOTED_THRESHOLD = 85


@lru_cache(None)
def _context() -> dict:
    return load_json("movement_context.json")


@lru_cache(None)
def _aliases() -> list[tuple[str, str]]:
    """(normalised alias, canonical) including each canonical itself."""
    out = []
    for m in load_json("movement_aliases.json")["movements"]:
        for name in [m["canonical"], *m["aliases"]]:
            out.append((normalise(name), m["canonical"]))
    return out


_PERIOD_RX = re.compile(
    r"[,(\s]*(?:(giai\s+đoạn|thời\s+kỳ|nhiệm\s+kỳ)\s*)?\(?((?:19|20)\d{2})\s*[-–—]\s*((?:19|20)\d{2})\)?\s*$"
    r"|[,\s]*(đến|trong)\s+năm\s+((?:19|20)\d{2})\s*$", re.IGNORECASE)


def split_period(name: str) -> tuple[str, Optional[str]]:
    """("Vì người nghèo … giai đoạn 2021 - 2025") → ("Vì người nghèo …", "2021-2025")."""
    m = _PERIOD_RX.search(name)
    if not m:
        return name, None
    if m.group(2):
        if not m.group(1) and not re.search(r"[,(]\s*\(?\s*(?:19|20)\d{2}\s*[-–—]", name[m.start():]):
            # a bare "2021-2025" glued to the name without "giai đoạn" is still a period
            pass
        period = f"{m.group(2)}-{m.group(3)}"
    else:
        period = f"-{m.group(5)}" if fold(m.group(4)) == "den" else m.group(5)
    return name[:m.start()].rstrip(" ,;-–"), period


@lru_cache(None)
def _generic_leading() -> list[str]:
    return sorted(_context()["generic_leading"], key=len, reverse=True)


def normalise(name: str) -> str:
    """Folded, punctuation-free, period-free, without generic leading words: the matching form."""
    base, _ = split_period(clean(name))
    s = re.sub(r"[^\w\s]", " ", fold(base))
    s = re.sub(r"\s+", " ", s).strip()
    for g in _generic_leading():
        if s.startswith(g + " "):
            s = s[len(g) + 1:]
            break
    return s


@lru_cache(None)
def _alias_words() -> list[tuple[str, str, frozenset[str], int]]:
    """(alias, canonical, its set of words, its word count): split once, not per comparison."""
    return [(alias, canon, frozenset(alias.split()), len(alias.split())) for alias, canon in _aliases()]


@lru_cache(maxsize=1024)
def canonical_of(name: str, threshold: int = MATCH_THRESHOLD) -> tuple[str, float]:
    """(canonical name, score 0..1): the best alias above `threshold`, else the name itself.
    Memoised: a movement is usually named several times in a document."""
    norm = normalise(name)
    norm_words = set(norm.split())
    best, score = None, 0.0
    for alias, canon, alias_words, n_alias in _alias_words():
        s = fuzz.token_set_ratio(norm, alias)
        # token-set is 100 for any subset; demand the shared part be substantial
        shared = len(norm_words & alias_words)
        if shared < min(3, n_alias):
            continue
        if s > score or (s == score and best and len(canon) < len(best)):
            best, score = canon, s
    if best and score >= threshold:
        return best, score / 100
    base, _ = split_period(clean(name))
    base = base.strip(" ,;.-–")
    return (base[:1].upper() + base[1:]), 1.0


# ---------------------------------------------------------------- finding quotations
_OPEN_CTX = set(" \t\n(:;,-–[")


def _quotes(text: str) -> list[tuple[int, str]]:
    """(position, 'open'|'close') for every quotation mark.  Context decides first (after a space
    and before a letter it opens; after a letter and before a space it closes), because OCR turns
    “ into ” and back; the mark's own shape decides only when the context is ambiguous."""
    out = []
    for m in re.finditer(r"[“”\"″]", text):
        c, i = m.group(0), m.start()
        prev = text[i - 1] if i else " "
        nxt = text[i + 1] if i + 1 < len(text) else " "
        if prev in _OPEN_CTX and (nxt.isalnum()):
            out.append((i, "open"))
        elif (prev.isalnum() or prev in ".)?!") and (nxt.isspace() or nxt in ",.;:)"):
            out.append((i, "close"))
        elif c == "“":
            out.append((i, "open"))
        elif c == "”":
            out.append((i, "close"))
        elif prev in ".," and nxt.isalpha():
            out.append((i, "open"))  # ‘sau”,."Cán bộ’: glued to the punctuation before a letter, it opens
        else:
            out.append((i, "open" if prev in _OPEN_CTX and not nxt.isspace() else "close"))
    return out


_SENT_END = re.compile(r"\.(?=\s)|\n\s*\n\s*(?:\d+(?:\.\d+)*\.|[a-zđ]\)|[IVX]+\.|-)")


def _quotations(text: str) -> list[tuple[int, int]]:
    """Spans [start, end) of quoted content (without the marks)."""
    spans: list[tuple[int, int]] = []
    q = _quotes(text)
    open_at: Optional[int] = None
    for pos, kind in q:
        if kind == "open":
            if open_at is not None:  # previous quotation never closed: end it at its sentence
                m = _SENT_END.search(text, open_at, pos)
                if m:
                    spans.append((open_at + 1, m.start()))
            open_at = pos
        else:
            if open_at is not None:
                if pos - open_at <= 260:
                    spans.append((open_at + 1, pos))
                open_at = None
            elif spans and 0 < pos - spans[-1][1] <= 45 and not re.match(r"[\"”\s]*[,;]", text[spans[-1][1]:pos]):
                # OCR moved a closing quote inside the name: "… đẩy mạnh" học tập suốt đời"
                spans[-1] = (spans[-1][0], pos)
    if open_at is not None:
        m = _SENT_END.search(text, open_at)
        end = m.start() if m else min(len(text), open_at + 200)
        if end - open_at <= 260:
            spans.append((open_at + 1, end))
    return spans


@lru_cache(None)
def _triggers_rx(words: tuple[str, ...]) -> re.Pattern:
    """Compiled once per word list (it was rebuilt, escaped and sorted for every mention)."""
    alt = "|".join(sorted((re.escape(w).replace(r"\ ", r"\s+") for w in words), key=len, reverse=True))
    return re.compile(rf"(?<![a-z])(?:{alt})(?![a-z])")


_fold_same_length = fold_same_length


def _decide(folded: str, start: int, prev_end: int) -> Optional[bool]:
    """True/False from the last context word before `start`; None when there is none."""
    ctx = _context()
    lo = max(prev_end, start - 90)
    window = folded[lo:start]
    last, verdict = -1, None
    for words, v in ((ctx["movement"], True), (ctx["not_movement"], False)):
        for m in _triggers_rx(tuple(words)).finditer(window):
            if m.end() > last or (m.end() == last and v is False):
                last, verdict = m.end(), v
    return verdict


_LAUNCH_BEFORE = re.compile(r"\bdo\s+((?:(?!phát động|[.;:“”\"]).){3,80}?)\s+phát\s+động", re.S)
_LAUNCH_AFTER = re.compile(r"^[\s,]*(?:giai đoạn[\s\d\-–]+)?\s*do\s+((?:(?!phát động|[.;:“”\"]).){3,80}?)\s+phát\s+động", re.S)
_SENTENCE_START = re.compile(r"\.\s|\n\s*\n\s*(?:\d+(?:\.\d+)*\.|[a-zđ]\)|[IVX]+\.)")


def _launched_by(vt: str, qstart: int, qend: int) -> Optional[str]:
    after = _LAUNCH_AFTER.match(vt[qend + 1:qend + 140])
    if after:
        return clean(after.group(1))
    s = 0
    for m in _SENTENCE_START.finditer(vt, max(0, qstart - 1500), qstart):
        s = m.end()
    best = None
    for m in _LAUNCH_BEFORE.finditer(vt, s, qstart):
        best = m
    if best and ";" in vt[best.end():qstart]:
        return None  # "… do Thủ tướng phát động; phong trào “B”": a new clause, not the same list
    return clean(best.group(1)) if best else None


def _unquoted(vt: str, folded: str) -> list[tuple[int, int, str]]:
    """Known movements named without quotes right after "phong trào (thi đua)"."""
    out = []
    for m in re.finditer(r"(?<![a-z])phong\s+trao(?:\s+thi\s+dua)?\s+(?=[^\W\d_])", folded, re.I):
        s = m.end()
        if vt[s:s + 1] in "“\"":
            continue
        stop = re.compile(r"[;.:“\"]|\n\s*\n|,\s").search(vt, s)
        e = stop.start() if stop else min(len(vt), s + 200)
        if e - s > 220:
            continue
        name = clean(vt[s:e])
        norm = normalise(name)
        best = max((fuzz.ratio(norm, a) for a, _ in _aliases()), default=0)
        if best >= UNQUOTED_THRESHOLD and len(norm.split()) >= 3:
            out.append((s, e, name))
    return out


@lru_cache(None)
def _uq() -> dict:
    d = dict(load_json("movement_unquoted.json"))

    def alt(words: list[str]) -> str:
        return "|".join(sorted((re.escape(w).replace(r"\ ", r"\s+") for w in words), key=len, reverse=True))

    d["trigger_rx"] = re.compile(rf"(?<![a-z])(?:{alt(d['triggers'])})(?![a-z])")
    d["starter_rx"] = re.compile(rf"(?:{alt(d['name_starts'])})(?![^\W\d_])")
    d["generic_rx"] = re.compile(rf"(?:{alt(d['generic_starts'])})(?![^\W\d_])")
    after_comma = d["stop_after_comma"] + [w.lower() for w in load_lines("task_verbs.txt")]
    d["stop_rx"] = re.compile(rf"\s(?:{alt(d['stop_words'])})(?![^\W_])|,\s+(?:{alt(after_comma)})(?![^\W_])"
                              r"|[.;:?!“”\"″\t(]|\n\s*\n|\n\s*(?:[-+•]|\d+(?:\.\d+)*\.|[a-zđ]\))\s")
    d["period_rx"] = re.compile(d["period_after"])
    d["launch_rx"] = re.compile(d["launch_after"])
    return d


def _upper_line(vt: str, pos: int) -> bool:
    """Is `pos` on a heading line in capitals ("II. PHONG TRÀO THI ĐUA YÊU NƯỚC")?"""
    a = vt.rfind("\n", 0, pos) + 1
    b = vt.find("\n", pos)
    letters = "".join(filter(str.isalpha, vt[a:b if b >= 0 else len(vt)]))
    return len(letters) >= 6 and sum(map(str.isupper, letters)) / len(letters) > 0.8


def _unquoted_named(vt: str, folded: str) -> list[tuple[int, int, str, str]]:
    """Unknown movements named without quotes, taken only when the words after the trigger read as
    a name (data/movement_unquoted.json): a capitalised name ("Cuộc vận động Người Việt Nam ưu tiên
    …"), a name-like opening ("phong trào thi đua đặc biệt lập thành tích chào mừng …"), or a
    non-generic phrase followed by its period / launcher ("phong trào thi đua X giai đoạn 2021-2025",
    "… X do Tỉnh ủy phát động").  Returns (start, end, name, rule)."""
    d = _uq()
    low = vt.lower()
    out = []
    for m in d["trigger_rx"].finditer(folded):
        s = m.end()
        while s < len(vt) and vt[s] in " \t":
            s += 1
        if s >= len(vt) or not vt[s].isalpha() or s - m.end() > 2 or _upper_line(vt, m.start()):
            continue
        trig = re.sub(r"\s+", " ", folded[m.start():m.end()])
        if trig in d["keep_thi_dua"]:
            # "phong trào thi đua đặc biệt …": the name keeps "thi đua"; "… thi đua Dân vận khéo" starts at the capital
            name_start = s if vt[s].isupper() else vt.rfind("thi", m.start(), m.end())
            if name_start < 0:
                name_start = s
        else:
            name_start = s
        stop = d["stop_rx"].search(low, s + 1)
        e = stop.start() if stop else len(vt)
        e = min(e, s + d["max_chars"] + 40)
        raw = vt[name_start:e]
        name = clean(raw).strip(" ,-–")
        words = vt[s:e].split()
        if not words or len(name) > d["max_chars"]:
            continue
        rule = None
        plural = re.search(rf"(?<![^\W\d_])(?:{'|'.join(map(re.escape, d['plural_before']))})\s+$", low[max(0, m.start() - 12):m.start()])
        if vt[s].isupper():
            first = re.match(r"[^\W\d_]+", vt[s:]).group(0)
            if first not in d["not_capital_starts"] and len(words) >= 2:
                rule = "capital"
        elif plural:
            pass
        elif d["starter_rx"].match(low, s) and len(words) >= d["min_words_starter"]:
            rule = "starter"
        elif not d["generic_rx"].match(low, s) and len(words) >= 3:
            after = low[e:e + 160]
            if d["period_rx"].match(after) or d["launch_rx"].match(after):
                rule = "marked"
        if rule:
            out.append((name_start, name_start + len(raw.rstrip(" ,-–\n")), name, rule))
    return out


def find_movements(doc: Document) -> list[Movement]:
    """Named movements in `doc`, one per canonical name (see module docstring)."""
    view: View = make_view(doc.text)
    vt = view.text
    folded = folded_text(vt)
    found = []
    prev_end, prev_ok = 0, False
    # the body only: quotation marks in the Nơi nhận block are OCR noise, not names
    nn = re.search(r"^\W*noi\s+nhan\s*:", folded, re.MULTILINE)
    body_end = nn.start() if nn and nn.start() > len(vt) * 0.3 else len(vt)
    for s, e in _quotations(vt):
        if s >= body_end:
            break
        raw = vt[s:e]
        if re.search(r"\n\s*[-+•]\s", raw):  # a name does not run over list bullets (stray OCR quote)
            prev_end, prev_ok = e + 1, False
            continue
        name = clean(re.sub(r"[“”\"″]", " ", raw)).strip(" ,;.")
        if len(name) < 4 or len(name) > 220 or not re.search(r"[^\W\d_]{2}", name):
            prev_end, prev_ok = e + 1, False
            continue
        verdict = _decide(folded, s - 1, prev_end)
        gap = vt[prev_end:s - 1]
        # OCR doubles punctuation between list items (‘“A”,.“B”’: a "." glued to a "," or ";" is no sentence
        # end) and leaves specks read as apostrophes (‘“A”, '\n\n“B”’)
        chained = prev_ok and re.fullmatch(r"[\s,;:'‘’`]*(?:[,;]\.|\.[,;])?[\s,;:'‘’`]*(?:và\s*)?", gap) is not None
        ok = verdict is True or (verdict is None and chained)
        prev_end, prev_ok = e + 1, ok
        if not ok:
            continue
        found.append((s, e, name, "rule:quoted", 0.85 if verdict else 0.75))
    for s, e, name in _unquoted(vt, folded):
        if not any(fs <= s < fe + 2 for fs, fe, *_ in found):
            found.append((s, e, name, "rule:unquoted+alias", 0.6))
    for s, e, name, rule in _unquoted_named(vt[:body_end], folded[:body_end]):
        if not any(fs - 25 <= s < fe + 2 for fs, fe, *_ in found):
            found.append((s, e, name, f"rule:unquoted_{rule}", 0.6 if rule == "capital" else 0.5))
    found.sort()

    out: dict[str, Movement] = {}
    for s, e, name, method, conf in found:
        base, period = split_period(name)
        if not period:  # "“…” giai đoạn 2021-2025" after the closing quote
            m = re.match(r"[\s”\"]*,?\s*giai\s+đoạn\s+((?:19|20)\d{2})\s*[-–—]\s*((?:19|20)\d{2})", vt[e:e + 40])
            if m:
                period = f"{m.group(1)}-{m.group(2)}"
            else:  # "“…” đến năm 2025" / "trong năm 2025" after the closing quote
                m = re.match(r"[\s”\"]*,?\s*(đến|trong)\s+năm\s+((?:19|20)\d{2})(?!\d)", vt[e:e + 40])
                if m:
                    period = f"-{m.group(2)}" if m.group(1) == "đến" else m.group(2)
        canon, score = canonical_of(name)
        launched = _launched_by(vt, s - 1, e)
        if canon in out:
            mv = out[canon]
            mv.period = mv.period or period
            mv.launched_by = mv.launched_by or launched
            continue
        os_, oe = view.span(s, e)
        out[canon] = Movement(
            name=name, canonical=canon, period=period, launched_by=launched,
            prov=Provenance(page=doc.page_at(os_), start=os_, end=oe, method=method,
                            confidence=round(conf * (0.9 + 0.1 * score), 3)),
        )
    return _merge_mentions(list(out.values()))


def _merge_mentions(ms: list[Movement]) -> list[Movement]:
    """An unquoted unknown name whose words are (nearly) all in another movement of the same document
    is a shorter mention of it ("Phong trào thi đua đặc biệt … 70 năm Chiến thắng Điện Biên Phủ" in a
    table row after the full name in the text): it is merged into the other one (the first seen
    when both are unquoted)."""
    keep: list[Movement] = []
    for m in ms:
        if m.prov and m.prov.method.startswith("rule:unquoted_"):
            a = normalise(m.name)
            host = None
            for o in ms:
                if o is m or (o.prov and o.prov.method.startswith("rule:unquoted_") and o not in keep):
                    continue
                b = normalise(o.name)
                if len(set(a.split()) & set(b.split())) >= 4 and fuzz.token_set_ratio(a, b) >= 90:
                    host = o
                    break
            if host is not None:
                host.period = host.period or m.period
                host.launched_by = host.launched_by or m.launched_by
                continue
        keep.append(m)
    return keep
