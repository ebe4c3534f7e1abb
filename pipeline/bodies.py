"""Issuing bodies: one name for each body however it is written, and its province before
and after the 2025 merger.

"UBND tỉnh Ninh Thuận", "Ủy ban nhân dân tỉnh Ninh Thuận" and "UỶ BAN NHÂN DÂN TỈNH NINH
THUẬN" are one body; since 1 July 2025 Ninh Thuận is part of Khánh Hòa, so an analyst who
asks for "UBND tỉnh Khánh Hòa" must also see what its predecessor issued. The store keeps a
registry (`bodies`, `body_aliases`) filled from here at save and correction time; the views
resolve a name by folding it the same way in SQL (`congvan_fold`), so no Python runs at
query time.

Province data (63 old provinces, their districts, the 34 new provinces) comes from
underthesea's address converter (`underthesea.convert_address`, data from
vietnamadminunits, effective 2025-07-01), read offline from the package.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional

_DATA = Path(__file__).resolve().parent / "data" / "body_aliases.tsv"

# Unit words and the level a body named after them sits at.
_UNITS = {
    "tỉnh": "tỉnh", "thành phố": "tỉnh", "huyện": "huyện", "quận": "huyện", "thị xã": "huyện",
    "xã": "xã", "phường": "xã", "thị trấn": "xã",
}
_UNIT_RX = re.compile(r"(?i)(?<!\w)(thành phố|thị xã|thị trấn|tỉnh|huyện|quận|xã|phường)(?!\w)")
# Bodies of the central state and Party (no locality): level "trung ương".
_CENTRAL = re.compile(
    r"(?i)^(Bộ Chính trị|Ban Bí thư|Ban Chấp hành Trung ương|Chính phủ|Thủ tướng|Văn phòng Chính phủ|Quốc hội"
    r"|Ủy ban Thường vụ Quốc hội|Chủ tịch nước|Bộ |Ban .* Trung ương|Hội đồng Thi đua - Khen thưởng Trung ương"
    r"|Ủy ban Trung ương)"
)


def _nfc(s: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", s or "")).strip()


def body_fold(s: Optional[str]) -> str:
    """Lowercase, no marks, đ→d, punctuation → one space: the form aliases are stored in.
    Same as the SQL macro congvan_fold() in views.sql (tested to agree)."""
    s = _nfc(s or "").replace("đ", "d").replace("Đ", "D")
    s = "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", " ", s).strip()


@lru_cache(maxsize=1)
def abbreviations() -> list[tuple[str, str]]:
    """(abbreviation, full form), longest abbreviation first."""
    out: dict[str, str] = {}
    for line in _DATA.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        abbr, full = line.split("\t")
        out.setdefault(_nfc(abbr), _nfc(full))
    return sorted(out.items(), key=lambda kv: -len(kv[0]))


@lru_cache(maxsize=1)
def _abbr_rx() -> re.Pattern:
    alts = "|".join(re.escape(a) for a, _ in abbreviations())
    return re.compile(rf"(?<![\w&])({alts})(?![\w&])")


def expand(name: str) -> str:
    """Spell out abbreviations: "UBND tỉnh X" → "Ủy ban nhân dân tỉnh X"; "Uỷ" → "Ủy"."""
    table = dict(abbreviations())
    s = _abbr_rx().sub(lambda m: table[m.group(1)], _nfc(name))
    return s.replace("Uỷ", "Ủy").replace("uỷ", "ủy").replace("UỶ", "ỦY")


def _title_unit(s: str) -> str:
    """Sentence case for shouted headers: "ỦY BAN NHÂN DÂN TỈNH ĐIỆN BIÊN" → "Ủy ban nhân dân tỉnh Điện Biên"."""
    if s != s.upper():
        return s
    words = s.lower().split()
    m = _UNIT_RX.search(" ".join(words))
    cut = len(" ".join(words)[: m.end()].split()) if m else len(words)  # words after the unit: a place name
    return " ".join(w.capitalize() if i == 0 or i >= cut else w for i, w in enumerate(words))


def registry_version() -> str:
    """Changes whenever the rules or the alias table change, so the store re-resolves the
    bodies it holds (Store._refresh_bodies)."""
    import hashlib

    h = hashlib.sha256(_DATA.read_bytes())
    h.update(Path(__file__).read_bytes())
    path = _mapping_path()
    h.update(str(path.stat().st_size if path else 0).encode())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- provinces

@dataclass(frozen=True)
class Provinces:
    """Old province (short name) by folded key, its 2025 successor, and districts' provinces."""

    old: dict[str, str] = field(default_factory=dict)           # fold(short) → "Ninh Thuận"
    successor: dict[str, str] = field(default_factory=dict)     # fold(short) → "Khánh Hòa"
    successor_unit: dict[str, str] = field(default_factory=dict)  # fold(new short) → "tỉnh" | "thành phố"
    old_unit: dict[str, str] = field(default_factory=dict)      # fold(old short) → "tỉnh" | "thành phố"
    districts: dict[str, frozenset] = field(default_factory=dict)  # fold(district name) → {fold(province)}


def _mapping_path() -> Optional[Path]:
    """underthesea's merger data, found without importing underthesea (its package import pulls
    in requests, yaml and more: ~2.5 s of every process's first save for one JSON file)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("underthesea")
    except (ImportError, ValueError):
        return None
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = Path(loc) / "address" / "data" / "mapping.json"
        if p.exists():
            return p
    return None


_UNIT_PREFIX = re.compile(r"(?i)^(tỉnh|thành phố|huyện|quận|thị xã|thành phố)\s+")


@lru_cache(maxsize=1)
def provinces() -> Provinces:
    """The merger tables from underthesea's bundled data (empty if underthesea is missing)."""
    path = _mapping_path()
    if path is None:
        return Provinces()
    data = json.loads(path.read_text(encoding="utf-8"))
    old, successor, old_unit, succ_unit = {}, {}, {}, {}
    new_names = data["province_names"]
    for key, info in data["old_province_names"].items():
        short = _nfc(info["short"])
        k = body_fold(short)
        old[k] = short
        old_unit[k] = "thành phố" if info["name"].lower().startswith("thành phố") else "tỉnh"
        new = new_names.get(data["province_mapping"].get(key, ""), {})
        if new:
            successor[k] = _nfc(new["short"])
            succ_unit[body_fold(new["short"])] = "thành phố" if new["name"].lower().startswith("thành phố") else "tỉnh"
    districts: dict[str, set] = {}
    for rec in data["ward_mapping"]:
        d = _UNIT_PREFIX.sub("", _nfc(rec.get("old_district") or ""))
        p = _UNIT_PREFIX.sub("", _nfc(rec.get("old_province") or ""))
        if d and p:
            districts.setdefault(body_fold(d), set()).add(body_fold(p))
    return Provinces(old, successor, succ_unit, old_unit, {k: frozenset(v) for k, v in districts.items()})


def province_2025(province: Optional[str]) -> Optional[str]:
    """The province a pre-2025 province became part of (itself when it was kept)."""
    if not province:
        return None
    return provinces().successor.get(body_fold(province))


# ---------------------------------------------------------------- bodies

@dataclass(frozen=True)
class Body:
    """A normalised body. `key` identifies it across spellings; `aliases` are folded names
    it answers to, with how: name, abbreviation, successor (its post-2025 province's name),
    kind (the name without its place, shared by the bodies of every province)."""

    key: str
    name: str
    kind: str                       # "Ủy ban nhân dân", "Sở Nội vụ", "Bộ Chính trị"
    level: Optional[str]            # "trung ương" | "tỉnh" | "huyện" | "xã" | None (unknown)
    locality: Optional[str]         # as named: "Điện Biên", "Phong Thổ"
    district: Optional[str]
    province: Optional[str]         # before the 2025 merger
    province_2025: Optional[str]    # after it
    aliases: tuple[tuple[str, str], ...] = ()


def _abbreviate(full: str) -> list[str]:
    """Short forms of a spelled-out name: "Ủy ban nhân dân tỉnh X" → ["UBND tỉnh X"]."""
    out = []
    for abbr, exp in abbreviations():
        if exp[0].isupper() and (full.startswith(exp + " ") or full == exp):
            out.append(abbr + full[len(exp):])
    return out


def resolve(name: Optional[str], *, context_province: Optional[str] = None) -> Optional[Body]:
    """`_resolve`, remembered: the same few dozen names (the issuer, "Sở Nội vụ", "UBND các
    huyện") come back in every record and were a fifth of each save's time."""
    return _resolve(name, context_province)


@lru_cache(maxsize=8192)
def _resolve(name: Optional[str], context_province: Optional[str]) -> Optional[Body]:
    """Normalise a body's name. A name without a locality ("Sở Nội vụ") is taken to be the
    body of `context_province` (the issuer's province, for an assignee); sub-units in
    parentheses ("Sở Nội vụ (Ban Thi đua - Khen thưởng)") are dropped."""
    if not name or not name.strip():
        return None
    raw = _nfc(name)
    s = _title_unit(expand(raw))
    s = re.sub(r"\s*\([^)]*\)\s*", " ", s).strip(" ,;.-")
    if not s:
        return None
    prov = provinces()
    kind, unit, locality = s, None, None
    # a list of bodies ("Các sở, ban, ngành; UBND các huyện, thị xã, thành phố") is one
    # collective assignee: keep it as written, read in the context province
    collective = ";" in s or bool(re.match(r"(?i)(các|thủ trưởng|chủ tịch|thành viên)\s", s))
    units = [] if collective else list(_UNIT_RX.finditer(s))
    m = units[-1] if units else None
    if m and m.end() < len(s) and s[m.end():].strip()[:1].isupper():
        kind = s[: m.start()].strip(" ,")
        unit = m.group(1).lower()
        locality = s[m.end():].strip(" ,")
    elif m and m.end() >= len(s.rstrip()):
        kind, unit = s[: m.start()].strip(" ,"), m.group(1).lower()  # "Hội đồng Thi đua - Khen thưởng tỉnh"
    kind = kind[:1].upper() + kind[1:] if kind else kind
    level = _UNITS.get(unit) if unit else None
    province = district = None
    from_context = False
    if locality:
        lk = body_fold(locality)
        if unit == "thành phố" and lk not in prov.old and prov.old:
            level = "huyện"  # a city inside a province
        if level == "tỉnh":
            province = prov.old.get(lk, locality)
        elif level == "huyện":
            district = locality
            cands = prov.districts.get(lk, frozenset())
            ctx = body_fold(context_province) if context_province else None
            if ctx and ctx in cands:
                province = prov.old.get(ctx)
            elif len(cands) == 1:
                province = prov.old.get(next(iter(cands)))
    elif _CENTRAL.match(kind) or kind.endswith("Trung ương"):
        level = "trung ương"
    elif context_province and (body_fold(context_province) in prov.old or not prov.old):
        province = prov.old.get(body_fold(context_province), context_province)
        from_context = True
        level = level or "tỉnh"
        unit = unit or prov.old_unit.get(body_fold(province), "tỉnh")
        locality = province
    succ = province_2025(province) if province else None
    if collective and from_context:
        display = f"{kind} ({unit} {locality})"
    else:
        display = f"{kind} {unit} {locality}" if unit and locality else (f"{kind} {unit}" if unit else kind)
    key = "|".join(body_fold(x or "") for x in (kind, level, province or (locality if not district else ""), district))
    key = key.rstrip("|")
    aliases: list[tuple[str, str]] = [(body_fold(display), "name")]
    if not from_context:  # "Sở Nội vụ" alone names a different body in every province
        aliases += [(body_fold(raw), "name"), (body_fold(s), "name")]
    aliases += [(body_fold(a), "abbreviation") for a in _abbreviate(display)]
    if locality and not collective:  # "Sở Nội vụ" alone: this body among every province's
        aliases += [(body_fold(kind), "kind")] + [(body_fold(a), "kind") for a in _abbreviate(kind)]
    if succ and province and body_fold(succ) != body_fold(province) and level == "tỉnh":
        su = prov.successor_unit.get(body_fold(succ), "tỉnh")
        new_name = f"{kind} {su} {succ}"
        aliases.append((body_fold(new_name), "successor"))
        aliases += [(body_fold(a), "successor") for a in _abbreviate(new_name)]
    seen, uniq = set(), []
    for a, rel in aliases:
        if a and a not in seen:
            seen.add(a)
            uniq.append((a, rel))
    return Body(key, display, kind, level, locality, district, province, succ, tuple(uniq))
