"""Scale run of the lineage on a generated corpus: raw_documents -> clean_documents (5 partitions)
-> corpus -> corpus_splits -> corpus_stats -> tokenizer -> tokenized_corpus, and vector_index on
a slice, each materialized through the real Dagster assets (`dagster asset materialize`, one
process per stage, the run config from scripts/scale_run.yaml), with wall time and the peak RSS of
each stage's process and its worker processes together (sampled).

raw_documents is written by the generator (bench_corpus: remixed starter sentences with planted
near-duplicates) straight into alslm.raw_documents in batches, as a scrape spool would be, and
reported to Dagster as a materialization of each partition; the starter loader behind the
raw_documents asset reads a folder of Markdown files and is not the subject here.

    bash scripts/scale_run.sh --mb 1000                      # data under /tmp/alslm_scale
    .venv/bin/python benchmarks/scale_run.py --mb 50 --index-documents 200   # a quick rehearsal
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
CONFIG = REPO / "scripts" / "scale_run.yaml"
from bench_corpus import TreeRSS  # noqa: E402

PARTITIONS = ["clinicaltrials", "educational", "narratives", "pubmed", "supplementary"]
STAGES = [  # (label, selection, ops of the config file that apply)
    ("corpus", "corpus,corpus_duplicates", ["corpus"]),
    ("corpus_splits", "corpus_splits", ["corpus_splits"]),
    ("corpus_stats", "corpus_stats", ["corpus_stats"]),
    ("tokenizer", "tokenizer", ["tokenizer"]),
    ("tokenized_corpus", "tokenized_corpus", ["tokenized_corpus"]),
]


def run_stage(label: str, args: list[str], env: dict) -> dict:
    """Run one `dagster asset materialize`, return wall seconds and the process's peak RSS."""
    cmd = [str(REPO / ".venv" / "bin" / "dagster"), "asset", "materialize", "-m", "alslm_assets", *args]
    t = time.perf_counter()
    log = Path(env["ALSLM_DATA_DIR"]) / "logs" / f"scale_{label}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        tree = TreeRSS(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        peak = tree.stop()
    wall = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    if code:
        tail = log.read_text()[-3000:]
        raise SystemExit(f"stage {label} failed (exit {code}); log {log}:\n{tail}")
    row = {"stage": label, "wall_s": round(wall, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
           "peak_rss_gib": round(peak, 2), "peak_rss_main_gib": round(usage.ru_maxrss / 2**20, 2)}
    print(f"  {label:<28} {row['wall_s']:8.1f} s  CPU {row['cpu_s']:8.1f} s  peak RSS {row['peak_rss_gib']:5.2f} GiB", flush=True)
    return row


def op_config(cfg: dict, ops: list[str]) -> str:
    return json.dumps({"ops": {op: cfg["ops"][op] for op in ops if op in cfg.get("ops", {})}})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=1000.0, help="MB of generated text")
    ap.add_argument("--data-dir", default="/tmp/alslm_scale", help="ALSLM_DATA_DIR of the run (a scratch folder)")
    ap.add_argument("--config", default=str(CONFIG), help="run config (ops: ...) of the stages")
    ap.add_argument("--index-documents", type=int, default=-1,
                    help="vector_index on the first N corpus documents (-1: skip the index; ~7 chunks per document)")
    ap.add_argument("--skip-generate", action="store_true", help="reuse the raw_documents table already there")
    args = ap.parse_args()

    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    home = data / "dagster_home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "ALSLM_DATA_DIR": str(data), "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    os.environ.update({k: env[k] for k in ("ALSLM_DATA_DIR", "DAGSTER_HOME")})
    cfg = yaml.safe_load(Path(args.config).read_text())
    rows = []
    print(f"scale run: {args.mb:g} MB into {data} (config {args.config})", flush=True)

    if not args.skip_generate:
        import resource

        import bench_corpus

        from alslm_ml.processing import store

        t = time.perf_counter()
        con = store.connect(data / "warehouse.duckdb")
        n, size, planted = bench_corpus.generate_raw(con, args.mb, 0.05)
        con.close()
        rows.append({"stage": "raw_documents (generated)", "wall_s": round(time.perf_counter() - t, 1),
                     "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
                     "documents": n, "mb": round(size / 1e6, 1), "planted": len(planted)})
        print(f"  raw_documents (generated)    {rows[-1]['wall_s']:8.1f} s  {n:,} documents, {size / 1e6:,.1f} MB, "
              f"{len(planted):,} planted near-duplicates", flush=True)
        from dagster import AssetMaterialization, DagsterInstance

        with DagsterInstance.get() as instance:  # record the external write in the lineage
            for p in PARTITIONS:
                instance.report_runless_asset_event(AssetMaterialization(
                    "raw_documents", partition=p, metadata={"generated_by": "benchmarks/scale_run.py", "mb": round(size / 1e6, 1)}))
        (data / "planted.json").write_text(json.dumps(planted))

    for p in PARTITIONS:
        rows.append(run_stage(f"clean_documents[{p}]", ["--select", "clean_documents", "--partition", p,
                                                         "--config-json", op_config(cfg, ["clean_documents"])], env))
    for label, select, ops in STAGES:
        rows.append(run_stage(label, ["--select", select, "--config-json", op_config(cfg, ops)], env))
    if args.index_documents >= 0:
        vcfg = {"ops": {"vector_index": {"config": {**cfg["ops"].get("vector_index", {}).get("config", {}),
                                                    "max_documents": args.index_documents}}}}
        rows.append(run_stage("embedding_model", ["--select", "embedding_model"], env))
        rows.append(run_stage(f"vector_index[{args.index_documents} docs]", ["--select", "vector_index", "--config-json", json.dumps(vcfg)], env))

    from alslm_ml.processing import store

    con = store.connect(data / "warehouse.duckdb")
    facts = {t: con.execute(f"SELECT count(*) FROM alslm.{t}").fetchone()[0]
             for t in ("raw_documents", "clean_documents", "corpus", "corpus_duplicates", "corpus_splits")}
    planted_path = data / "planted.json"
    if planted_path.exists():
        planted = json.loads(planted_path.read_text())
        removed = dict(con.execute("SELECT removed_id, kept_id FROM alslm.corpus_duplicates WHERE kind = 'document'").fetchall())
        facts["planted_recall"] = round(sum(removed.get(d) == o for d, o in planted.items()) / max(1, len(planted)), 4)
    con.close()
    meta = json.loads((data / "tokens" / "meta.json").read_text())
    facts["train_tokens"] = meta["splits"]["train"]["tokens"]
    facts["val_tokens"] = meta["splits"]["val"]["tokens"]
    result = {"mb": args.mb, "stages": rows, "facts": facts}
    (data / "scale_run.json").write_text(json.dumps(result, indent=2))
    total = sum(r["wall_s"] for r in rows)
    print(f"  {'total':<28} {total:8.1f} s;  max peak RSS {max(r['peak_rss_gib'] for r in rows):.2f} GiB")
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
