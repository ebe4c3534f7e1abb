"""Every SQL example in the README's "The database" section runs on a database of the samples
and returns the rows it promises."""
from __future__ import annotations

import datetime as dt
import json
import re

import duckdb
import pytest

from conftest import ROOT
from sample_db import congvan, sample_db  # noqa: F401  (fixture)


def _section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## The database")
    end = readme.find("\n## ", start + 5)
    return readme[start:end if end > 0 else None]


BLOCKS = re.findall(r"```sql\n(.*?)```", _section(), re.S)


def _citing_34(rows):
    assert len(rows) == 3 and {r[0] for r in rows} == {"cited_by"}
    assert sorted(r[4] for r in rows) == ["2024-01-10", "2024-08", "2024-12"]  # 001, 003, 004


def _raw_34(rows):
    assert len(rows) == 3 and len({r[2] for r in rows}) >= 2  # different spellings, one key


def _cites(rows):
    assert ("CT:34:TW" in {r[1] for r in rows}) and {r[0] for r in rows} == {1}


def _unresolved(rows):
    assert ("CV:679:UBND-TH", "679/UBND-TH", "UBND tỉnh Lai Châu", 1) in rows


def _places(rows):
    assert {(r[2], r[3]) for r in rows} >= {("Lai Châu", "Phong Thổ"), ("Điện Biên", None), ("Ninh Thuận", None)}
    assert ("Khánh Hòa",) in {(r[4],) for r in rows}


def _spread(rows):
    assert rows[0][2] == 5 and len(rows) == 5


def _per_body(rows):
    assert ("Sở Nội vụ tỉnh Điện Biên", 32, 0) in rows[:3] and len(rows) == 10


def _of_body(rows):
    assert len(rows) == 4 and {r[0] for r in rows} == {"1023/KH-UBND"} and {r[2] for r in rows} == {"open"}


def _due(rows):
    assert rows and all(dt.date(2024, 4, 1) <= r[3] <= dt.date(2024, 6, 30) for r in rows)


def _overdue(rows):
    assert len(rows) >= 10 and all(r[3] < dt.date(2024, 4, 1) for r in rows)


def _by_level(rows):
    assert ("Ninh Thuận", "Khánh Hòa", "tỉnh", "CV", 1) in rows and ("Lai Châu", "Lai Châu", "huyện", "CV", 1) in rows


def _successor(rows):
    assert [(r[0], r[1], r[2]) for r in rows] == [("successor", "Ủy ban nhân dân tỉnh Ninh Thuận", "Khánh Hòa")]


def _by_date(rows):
    assert [r[3] for r in rows] == ["Ủy ban nhân dân tỉnh Ninh Thuận", "Ủy ban nhân dân tỉnh Thái Bình"]


# a distinctive piece of each README block → what its rows must satisfy
CHECKS = {
    "FROM citing('CT:34:TW')": _citing_34,
    "raw FROM v_citations": _raw_34,
    "citing('KH:1023:UBND')": _cites,
    "FROM v_unresolved_references": _unresolved,
    "movement_places(": _places,
    "count(DISTINCT province)": _spread,
    "GROUP BY assignee_body": _per_body,
    "tasks_of(": _of_body,
    "tasks_due(": _due,
    "overdue(": _overdue,
    "issuer_province_2025, issuer_level": _by_level,
    "issued_by(": _successor,
    "BETWEEN '2024-06'": _by_date,
}


def test_every_block_has_a_check_and_every_check_a_block():
    assert BLOCKS
    for block in BLOCKS:
        assert sum(k in block for k in CHECKS) == 1, block
    for k in CHECKS:
        assert any(k in b for b in BLOCKS), f"README lost the example {k!r}"


@pytest.mark.parametrize("block", BLOCKS, ids=[b.split("FROM", 1)[-1].split()[0][:30] for b in BLOCKS])
def test_readme_query_returns_its_rows(sample_db, block):
    con = duckdb.connect(str(sample_db), read_only=True)
    try:
        rows = con.execute(block).fetchall()
    finally:
        con.close()
    assert rows, block
    (check,) = [f for k, f in CHECKS.items() if k in block]
    check(rows)


def test_congvan_sql_runs_the_views(sample_db):
    out = congvan("sql", "SELECT key, cited_by_count FROM v_unresolved_references WHERE key = 'CV:679:UBND-TH'",
                  "--db", str(sample_db), "--format", "json").stdout
    assert json.loads(out) == [{"key": "CV:679:UBND-TH", "cited_by_count": 1}]
