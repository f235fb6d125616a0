"""Corpus processing benchmark: generate a corpus from the starter documents (sentence remixes, so
documents are distinct) with planted near-duplicates into a scratch DuckDB warehouse, then run the
streaming stages the assets run (clean per source -> dedup -> split + leakage -> statistics) and
print time, docs/s, MB/s, peak RSS, the dedup/split index size and the recall of the planted
duplicates.

    .venv/bin/python benchmarks/bench_corpus.py --mb 100
    .venv/bin/python benchmarks/bench_corpus.py --mb 1000 --workers 2
Goal (issue 15): 1 GB in <= 10 minutes on 2 cores, peak RSS <= 4 GiB, planted-duplicate recall >= 0.99.
"""

import argparse
import random
import re
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path

from alslm_ml.documents import RAW_COLUMNS, SOURCES
from alslm_ml.processing import store, tables
from alslm_ml.sources.starter import load_starter

SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
BENCH_SOURCES = ["pubmed", "clinicaltrials", "educational", "narratives", "supplementary"]


def sentence_pool() -> list[str]:
    pool = []
    for doc in load_starter():
        for para in doc.text.split("\n\n"):
            if not para.startswith("#"):
                pool += [s.strip() for s in SENT.split(para) if len(s.split()) >= 6]
    if len(pool) < 200:
        raise SystemExit(f"only {len(pool)} sentences in the starter corpus: it is missing")
    return pool


def perturb(text: str, rng: random.Random, rate: float) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), max(1, int(len(words) * rate))):
        words[i] = words[rng.randrange(len(words))]
    return " ".join(words)


def iter_docs(mb: float, dup_rate: float, seed: int = 0):
    """Yield (doc, original id or None) until `mb` MB of text: remixes of 20-50 starter
    sentences in paragraphs of five under a heading, and with probability `dup_rate` a
    near-duplicate (1% of words changed) with a later id."""
    rng = random.Random(seed)
    pool = sentence_pool()
    size, i = 0, 0
    while size < mb * 1e6:
        sents = rng.sample(pool, rng.randint(20, 50))
        paras = [f"# Section {i}"] + [" ".join(sents[j : j + 5]) for j in range(0, len(sents), 5)]
        doc = {"id": f"bench:{i:07d}", "source": rng.choice(BENCH_SOURCES), "text": "\n\n".join(paras), "license": "CC-BY-4.0"}
        yield doc, None
        size += len(doc["text"])
        i += 1
        if rng.random() < dup_rate:
            dup = {**doc, "id": f"bench:{i:07d}dup", "text": perturb(doc["text"], rng, 0.01)}
            yield dup, doc["id"]
            size += len(dup["text"])


def build(mb: float, dup_rate: float, seed: int = 0):
    """The whole generated corpus in memory, shuffled: (docs, planted {dup: original}, chars)."""
    rng_docs, planted, size = [], {}, 0
    for doc, orig in iter_docs(mb, dup_rate, seed):
        rng_docs.append(doc)
        size += len(doc["text"])
        if orig:
            planted[doc["id"]] = orig
    random.Random(seed).shuffle(rng_docs)
    return rng_docs, planted, size


def raw_row(doc: dict) -> dict:
    return {"url": f"alslm://bench/{doc['id']}", "title": doc["id"], "date_accessed": "2026-11-27", "metadata": "{}", **doc}


def generate_raw(con, mb: float, dup_rate: float, seed: int = 0, batch: int = 2000) -> tuple[int, int, dict]:
    """Write the generated corpus into alslm.raw_documents in batches: (documents, chars, planted)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS alslm")
    con.execute("CREATE OR REPLACE TABLE alslm.raw_documents (" + ", ".join(f'"{c}" {store.RAW_TYPES[c]}' for c in RAW_COLUMNS) + ")")
    rows, planted, n, size = [], {}, 0, 0
    for doc, orig in iter_docs(mb, dup_rate, seed):
        rows.append(raw_row(doc))
        n += 1
        size += len(doc["text"])
        if orig:
            planted[doc["id"]] = orig
        if len(rows) >= batch:
            store.append(con, "alslm.raw_documents", rows, store.RAW_TYPES)
            rows = []
    store.append(con, "alslm.raw_documents", rows, store.RAW_TYPES)
    return n, size, planted


def cpu_seconds() -> float:
    """User + system CPU of this process, its live worker processes and its finished children
    (a machine shared with other jobs stretches wall time, not CPU time)."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for p in me.children(recursive=True):
        try:
            total += sum(p.cpu_times()[:2])
        except Exception:
            pass
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return total + b.ru_utime + b.ru_stime


def rss_gib(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 2**20


class TreeRSS:
    """Peak of the summed RSS of a process and all its descendants (the worker processes),
    sampled every `interval` seconds in a thread: what the machine must hold at once."""

    def __init__(self, pid: int | None = None, interval: float = 0.25):
        import psutil

        self.proc = psutil.Process(pid)
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sample(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except Exception:  # a worker that just exited
                pass
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.peak = max(self.peak, self.sample())
            except Exception:
                return

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**30


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=100.0)
    ap.add_argument("--dup-rate", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=1, help="worker processes for the per-batch work")
    ap.add_argument("--batch-rows", type=int, default=1000)
    ap.add_argument("--duckdb-memory", default="1GB", help="DuckDB memory_limit")
    ap.add_argument("--dir", default=None, help="scratch folder for the warehouse (default: a temp dir, removed)")
    args = ap.parse_args()

    tree = TreeRSS()
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench_corpus_"))
    work.mkdir(parents=True, exist_ok=True)
    con = store.connect(work / "bench.duckdb", memory_limit=args.duckdb_memory)
    con.execute(f"SET temp_directory = '{work / 'duckdb_tmp'}'")
    try:
        t0 = time.perf_counter()
        n_docs, size, planted = generate_raw(con, args.mb, args.dup_rate)
        print(f"generated {n_docs:,} documents, {size / 1e6:.1f} MB, {len(planted):,} planted near-duplicates "
              f"into DuckDB in {time.perf_counter() - t0:.1f}s (not counted below); RSS so far {rss_gib():.2f} GiB")

        kw = {"batch_rows": args.batch_rows, "workers": args.workers}
        timings, notes, cpu = {}, {}, {}
        c = cpu_seconds()
        t = time.perf_counter()
        kept = 0
        for source in sorted(set(SOURCES) - {"starter"}):
            kept += tables.clean_partition(con, source, min_tokens=100, **kw).documents_out
        timings["clean"] = time.perf_counter() - t
        cpu["clean"], c = cpu_seconds() - c, cpu_seconds()
        notes["clean"] = f"kept {kept:,}/{n_docs:,}; RSS {rss_gib():.2f} GiB"
        t = time.perf_counter()
        dd = tables.dedup_corpus(con, min_tokens=100, **kw)
        timings["dedup"] = time.perf_counter() - t
        cpu["dedup"], c = cpu_seconds() - c, cpu_seconds()
        notes["dedup"] = (f"index {sum(dd.index_bytes.values()) / 2**20:.0f} MiB "
                          f"({', '.join(f'{k} {v / 2**20:.0f}' for k, v in dd.index_bytes.items())}); RSS {rss_gib():.2f} GiB")
        t = time.perf_counter()
        sp = tables.split_corpus(con, **kw)
        timings["split+leakage"] = time.perf_counter() - t
        cpu["split+leakage"], c = cpu_seconds() - c, cpu_seconds()
        notes["split+leakage"] = f"index {sp.index_bytes / 2**20:.0f} MiB; RSS {rss_gib():.2f} GiB"
        t = time.perf_counter()
        stats = tables.table_stats(con, "corpus_splits", **kw)
        timings["stats"] = time.perf_counter() - t
        cpu["stats"] = cpu_seconds() - c
        notes["stats"] = f"{stats['unique_words']:,} unique words; RSS {rss_gib():.2f} GiB"

        removed = dict(con.execute("SELECT removed_id, kept_id FROM alslm.corpus_duplicates WHERE kind = 'document'").fetchall())
        caught = sum(1 for dup, orig in planted.items() if removed.get(dup) == orig)
        false_pos = sum(1 for rid in removed if rid not in planted)
        total = sum(timings.values())
        print(f"{'stage':<16} {'wall s':>7} {'CPU s':>7} {'docs/s':>8} {'MB/s':>6}")
        for k, v in timings.items():
            print(f"  {k:<14} {v:7.1f} {cpu[k]:7.1f} {n_docs / v:8,.0f} {size / 1e6 / v:6.2f}   {notes[k]}")
        print(f"  {'total':<14} {total:7.1f} {sum(cpu.values()):7.1f} {n_docs / total:8,.0f} {size / 1e6 / total:6.2f}   "
              f"(workers={args.workers}, batch_rows={args.batch_rows})")
        print(f"peak RSS: main process {rss_gib():.2f} GiB; main + workers together {tree.stop():.2f} GiB (sampled every 0.25 s)")
        print(f"removed: {dd.removed['document']:,} near-duplicate documents, {dd.removed['paragraph']:,} paragraphs, "
              f"{dd.removed['residue']:,} residues")
        print(f"planted-duplicate recall {caught / max(1, len(planted)):.4f} ({caught}/{len(planted)}); other documents removed as duplicates: {false_pos}")
        print(f"split: {sp.val:,} val / {sp.train:,} train; near-duplicate pairs kept together {sp.near_duplicate_pairs:,}; leakage pairs: {len(sp.leaks)}")
        print(f"warehouse {sum(f.stat().st_size for f in work.glob('*.duckdb')) / 1e9:.2f} GB on disk")
    finally:
        con.close()
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
