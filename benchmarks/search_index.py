"""Full rebuild vs incremental refresh of the fts index (pipeline/search_index.py).

A synthetic corpus of N documents (~1,000-1,500 words each, words drawn from the token stream of
samples/*.gt.txt, so their frequencies are the samples' own) is written through the real schema
(documents + texts, as benchmarks/bench.py does), then:

  full      Store.refresh_index(force=True) over the N documents
  +k        k new documents saved with Store.save, then Store.refresh_index() (k = 1, 10, 100, ...)
  resave    10 documents re-extracted with other text (replace=True) and one corrected
  search    Store.search latency for a few queries, on the fresh index and after the increments
  check     match_bm25 scores of the queries on the incrementally kept index vs a full rebuild

    .venv/bin/python benchmarks/search_index.py [--n 100000] [--steps 1,10,100] [--keep DIR]

Prints a table and writes benchmarks/results/search_index.json. Times are wall and process CPU
(the machine is shared: CPU time is the steadier figure).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
RESULTS = ROOT / "benchmarks" / "results" / "search_index.json"
QUERIES = ["thi đua khen thưởng", "ke hoach", "uy ban nhan dan tinh", "bao cao ket qua thuc hien",
           "phong chong dich benh", "1234/KH-UBND"]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Timer:
    def __enter__(self):
        self.w, self.c = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w, _cpu() - self.c


def sample_tokens() -> list[str]:
    words = []
    for p in sorted(SAMPLES.glob("*.gt.txt")):
        words += p.read_text(encoding="utf-8").split()
    if not words:
        raise SystemExit(f"no samples/*.gt.txt under {SAMPLES}")
    return words


def build_corpus(db: Path, n: int, tokens: list[str], seed: int = 7) -> None:
    """N documents in documents + texts (only the columns the corpus and the views need)."""
    import duckdb

    from congvan.pipeline.store import Store

    Store(db).close()  # the schema as the pipeline makes it
    con = duckdb.connect(str(db))
    try:
        con.execute("CREATE TEMP TABLE bench_words AS SELECT row_number() OVER () - 1 AS k, w "
                    "FROM (SELECT unnest(?::VARCHAR[]) AS w)", [tokens])
        nw = len(tokens)
        con.execute(f"""CREATE TEMP TABLE bench_docs AS
            SELECT i, sha256(concat('congvan-fts-bench-', i)) AS sha,
                   CAST(1000 + hash(i, {seed}) % 501 AS BIGINT) AS nwords FROM range({n}) t(i)""")
        con.execute("""INSERT INTO documents (id, sha256, number, symbol, doc_type, doc_key, subject, text_source,
                                              pages, pipeline_version, ingested_at, extracted_at, record_json)
            SELECT left(sha, 16), sha, concat(i, '/KH-UBND'), 'KH-UBND', 'KH', concat('KH:', i, ':UBND'),
                   concat('Kế hoạch thực hiện phong trào thi đua số ', i), 'text_layer', 2, 'bench', now(), now(),
                   '{}' FROM bench_docs""")
        step = 5000  # in slices: 100,000 × 1,250 words at once would hold ~125M rows in memory
        for lo in range(0, n, step):
            con.execute(f"""INSERT INTO texts
                SELECT left(d.sha, 16), string_agg(w.w, ' ' ORDER BY j)
                FROM (SELECT i, sha, unnest(range(nwords)) AS j FROM bench_docs WHERE i >= {lo} AND i < {lo + step}) d
                JOIN bench_words w ON w.k = hash(d.i, d.j, {seed}) % {nw}
                GROUP BY d.sha""")
        con.execute("UPDATE meta SET value = 'true' WHERE key = 'fts_stale'")
    finally:
        con.close()


def make_records(tokens: list[str], k: int, tag: str, seed: int):
    from congvan.schemas.record import Record

    rng = random.Random(seed)
    out = []
    for j in range(k):
        sha = __import__("hashlib").sha256(f"{tag}-{j}".encode()).hexdigest()
        text = " ".join(rng.choice(tokens) for _ in range(rng.randint(1000, 1500)))
        out.append(Record.model_validate({
            "source": {"path": f"/archive/{tag}-{j}.pdf", "sha256": sha, "pages": 2, "text_source": "text_layer"},
            "number": f"{9000 + j}/CV-{tag.upper()}", "symbol": f"CV-{tag.upper()}", "doc_type": "CV",
            "issuer": {"name": "Ủy ban nhân dân tỉnh Điện Biên", "level": "tỉnh", "locality": "Điện Biên"},
            "issued_date": "2025-03-01", "subject": f"Công văn {tag} {j} về công tác thi đua", "text": text,
        }))
    return out


def search_latency(db: Path, rounds: int = 3) -> dict:
    from congvan.pipeline.store import Store

    out = {}
    with Store(db, read_only=True) as ro:
        ro.search("khởi động")  # load fts, warm the cache
        for q in QUERIES:
            best = None
            for _ in range(rounds):
                with Timer() as t:
                    hits = ro.search(q)
                best = t.wall if best is None else min(best, t.wall)
            out[q] = {"ms": round(best * 1000, 1), "hits": len(hits)}
    return out


def scores(db: Path) -> dict:
    import duckdb

    from congvan.pipeline import search_index
    from congvan.pipeline.store import _load_fts, fold

    con = duckdb.connect(str(db), read_only=True)
    try:
        _load_fts(con)
        snap = search_index.index_snapshot(con, [" ".join(fold(q).replace("/", " ").split()) for q in QUERIES],
                                           conjunctive=0)
        stats = con.execute(f"SELECT num_docs, avgdl FROM {search_index.FTS}.stats").fetchone()
    finally:
        con.close()
    return {"scores": snap, "stats": stats}


def run(n: int, steps: list[int], keep: Path | None) -> dict:
    from congvan.pipeline.store import Store

    tokens = sample_tokens()
    tmp = Path(tempfile.mkdtemp(prefix="fts-bench-", dir=keep))
    db = tmp / "fts.duckdb"
    res: dict = {"n": n, "cpus": os.cpu_count(), "words_per_doc": "1000-1500", "steps": []}
    try:
        with Timer() as t:
            build_corpus(db, n, tokens)
        res["corpus_build_s"] = round(t.wall, 1)
        print(f"corpus of {n} documents written in {t.wall:.1f} s", flush=True)

        with Store(db) as st:
            with Timer() as t:
                st.refresh_index(force=True)
            assert st.last_index_refresh == "full"
        res["full"] = {"wall_s": round(t.wall, 2), "cpu_s": round(t.cpu, 2)}
        print(f"full rebuild: {t.wall:.2f} s wall, {t.cpu:.2f} s CPU", flush=True)
        res["search_before"] = search_latency(db)

        for i, k in enumerate(steps):
            recs = make_records(tokens, k, f"add{i}", seed=100 + i)
            with Store(db) as st, st.holding():
                with Timer() as ts:
                    for r in recs:
                        st.save(r)
                with Timer() as t:
                    st.refresh_index()
                how = st.last_index_refresh
            row = {"change": f"+{k} new", "pending": k, "path": how, "wall_s": round(t.wall, 3),
                   "cpu_s": round(t.cpu, 3), "save_s": round(ts.wall, 2)}
            res["steps"].append(row)
            print(row, flush=True)

        # re-extraction of 10 documents with other text, and a correction of one
        recs = make_records(tokens, 10, "add1", seed=999)  # same sha256s as the +10 step, new text
        with Store(db) as st, st.holding():
            for r in recs:
                st.save(r, replace=True)
            from congvan.pipeline.store import document_id
            st.correct(document_id(recs[0].source.sha256), "subject", "Kế hoạch phòng chống dịch bệnh đã sửa")
            with Timer() as t:
                st.refresh_index()
            how = st.last_index_refresh
        row = {"change": "10 re-extracted + 1 corrected", "pending": 10, "path": how,
               "wall_s": round(t.wall, 3), "cpu_s": round(t.cpu, 3)}
        res["steps"].append(row)
        print(row, flush=True)
        res["search_after"] = search_latency(db)

        # equivalence at scale: the incrementally kept index vs a full rebuild of the same corpus
        before = scores(db)
        with Store(db) as st:
            with Timer() as t:
                st.refresh_index(force=True)
        after = scores(db)
        res["full_after"] = {"wall_s": round(t.wall, 2), "cpu_s": round(t.cpu, 2)}
        worst, compared = 0.0, 0
        for q, want in after["scores"].items():
            got = before["scores"][q]
            assert got.keys() == want.keys(), q
            for d, s in want.items():
                worst = max(worst, abs(got[d] - s))
                compared += 1
        assert before["stats"] == after["stats"], (before["stats"], after["stats"])
        res["equivalence"] = {"scores_compared": compared, "max_abs_diff": worst,
                              "stats_equal": before["stats"] == after["stats"]}
        print(f"full rebuild again: {t.wall:.2f} s; {compared} scores compared, max |diff| {worst:.3g}", flush=True)
        res["db_mb"] = round(db.stat().st_size / 2**20)
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    return res


def table(res: dict) -> str:
    lines = [f"fts index at {res['n']} documents ({res['words_per_doc']} words each)",
             f"{'refresh':34} {'path':12} {'wall s':>8} {'CPU s':>8}",
             f"{'full rebuild':34} {'full':12} {res['full']['wall_s']:8.2f} {res['full']['cpu_s']:8.2f}"]
    for r in res["steps"]:
        lines.append(f"{r['change']:34} {r['path']:12} {r['wall_s']:8.3f} {r['cpu_s']:8.3f}")
    lines.append(f"{'full rebuild (after the above)':34} {'full':12} {res['full_after']['wall_s']:8.2f} "
                 f"{res['full_after']['cpu_s']:8.2f}")
    lines.append("search latency ms (before → after the increments):")
    for q in QUERIES:
        b, a = res["search_before"][q], res["search_after"][q]
        lines.append(f"  {q:32} {b['ms']:8.1f} → {a['ms']:8.1f}   ({a['hits']} hits)")
    e = res["equivalence"]
    lines.append(f"scores vs full rebuild: {e['scores_compared']} compared, max |diff| {e['max_abs_diff']:.3g}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--steps", default="1,10,100")
    ap.add_argument("--keep", type=Path, default=None, help="build the database under this folder")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    res = run(args.n, [int(x) for x in args.steps.split(",")], args.keep)
    print(table(res))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    runs = {}
    if args.out.exists():
        try:
            runs = json.loads(args.out.read_text())
        except ValueError:
            runs = {}
    runs[str(args.n)] = res
    args.out.write_text(json.dumps(runs, ensure_ascii=False, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
