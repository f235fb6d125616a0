"""Fine-tuning arm (seed 002): instruction data set, LoRA experiments (one partition each) and the
merged fine-tuned model with its base-vs-fine-tuned comparison. Logic in alslm_ml.finetune.

Embedded default: one optimizer step per epoch on tiny batches and a small validation sample, so
all four experiments plus the final merge fit the lineage's CPU budget. `full: true` in the Config
of `lora_experiments` / `finetuned_model` switches to the seed's settings (full epochs,
effective batch 16, 512 tokens, whole val/test splits).
"""

import json

import dagster as dg
from dagster_duckdb import DuckDBResource

from alslm_ml import paths
from alslm_ml.benchmark import Benchmarks
from alslm_ml.finetune import data as instruction_data
from alslm_ml.finetune import experiments
from alslm_ml.processing import store
from alslm_ml.threads import torch_threads

GROUP = "finetune"
experiment_partitions = dg.StaticPartitionsDefinition(list(experiments.EXPERIMENTS))


def _dataset_dir():
    return paths.finetune_dataset_dir()


class InstructionConfig(dg.Config):
    flashcards_path: str = ""  # also load a medical-flashcards file (instruction/input/output; JSON or CSV)
    include_starter: bool = True  # the grounded Q&A pairs written from the starter corpus


@dg.asset(group_name=GROUP, deps=["corpus"],
       description="ALS instruction Q&A: filtered, normalized, benchmark-decontaminated, split 85/10/5 (data/finetune/dataset/).")
def instruction_dataset(context: dg.AssetExecutionContext, config: InstructionConfig, duckdb: DuckDBResource,
                        benchmark: Benchmarks) -> dg.MaterializeResult:
    corpus_ids = None
    if config.include_starter:
        with duckdb.get_connection() as con:  # the corpus table is written by the corpus asset itself
            corpus_ids = set(store.read_frame(con, "corpus", ["id"])["id"])
    raw = instruction_data.load_examples(config.include_starter, config.flashcards_path, corpus_ids,
                               log=context.log.info, warn=context.log.warning)
    out = _dataset_dir()
    splits, report = instruction_data.build_dataset(raw, benchmark.questions, out)
    context.log.info(f"instruction data: {report['input']} in, removed {report['removed']}, splits {report['splits']}")
    preview = [{"question": e.question, "answer": e.answer, "doc_id": e.doc_id} for e in splits["train"][:3]]
    return dg.MaterializeResult(metadata={
        "path": str(out), "input": report["input"], "kept": report["kept"], **{k: v for k, v in report["splits"].items()},
        "removed": dg.MetadataValue.json(report["removed"]),
        "benchmark_near_matches": dg.MetadataValue.md(instruction_data.near_matches_markdown(report["benchmark_near_matches"])),
        "fingerprint": report["fingerprint"], "preview": dg.MetadataValue.json(preview)})


@dg.asset_check(asset=instruction_dataset, blocking=True, additional_ins={"benchmark": dg.AssetIn("benchmark")},
             description="No instruction question is a near match of a benchmark question (rapidfuzz, see data.py).")
def instruction_dataset_disjoint_from_benchmark(benchmark: Benchmarks) -> dg.AssetCheckResult:
    rows = [e for name in ("train", "val", "test") for e in instruction_data.read_split(_dataset_dir(), name)]
    hits = instruction_data.benchmark_overlaps(rows, instruction_data.decontamination_set(benchmark.questions))
    return dg.AssetCheckResult(passed=not hits, metadata={"examples": len(rows), "near_matches": len(hits),
                                                         "first": dg.MetadataValue.json(hits[:5])})


class ExperimentConfig(dg.Config):
    full: bool = False  # the seed's settings: full epochs, micro 4 x accum 4, 512 tokens, whole val split
    max_steps_per_epoch: int = 2  # embedded default; ignored when full
    micro_batch: int = 2
    grad_accum: int = 1
    max_length: int = 160  # the starter Q&A chats are 78-140 tokens long
    loss_examples: int = 8  # val examples for val loss / perplexity (0 = all)
    gen_examples: int = 2  # val examples answered for ROUGE/BLEU (0 = all)
    gen_max_tokens: int = 32
    threads: int = 1  # torch threads; 1 avoids OpenMP spin-waiting on shared cores, 0 = torch default

    def lora_overrides(self) -> dict:
        if self.full:
            return {"max_steps_per_epoch": 0, "micro_batch": 4, "grad_accum": 4, "max_length": 512}
        return {"max_steps_per_epoch": self.max_steps_per_epoch, "micro_batch": self.micro_batch,
                "grad_accum": self.grad_accum, "max_length": self.max_length}

    def eval_settings(self) -> experiments.EvalSettings:
        if self.full:
            return experiments.EvalSettings(0, 0, 128)
        return experiments.EvalSettings(self.loss_examples, self.gen_examples, self.gen_max_tokens)


def _table_metadata() -> dict:
    results = experiments.load_experiment_results(dataset=instruction_data.fingerprint(_dataset_dir()))
    return {"experiments_table": dg.MetadataValue.md(experiments.table_markdown(results) if results else "(none yet)")}


def _run(context: dg.AssetExecutionContext, name: str, config: ExperimentConfig) -> dict:
    context.log.info(f"experiment {name}: {experiments.settings_for(name, **config.lora_overrides())}")
    with torch_threads(config.threads):
        res = experiments.run_experiment(name, _dataset_dir(), config.eval_settings(), log=context.log.info,
                                   **config.lora_overrides())
    context.log.info(f"experiment {name}: train loss {res['train_loss']:.4f}, val loss {res['val_loss']:.4f}, "
                     f"ROUGE-1 {res['rouge1']:.4f}, BLEU {res['bleu']:.4f}, {res['minutes']:.1f} min")
    return res


@dg.asset(group_name=GROUP, deps=[instruction_dataset], partitions_def=experiment_partitions,
       backfill_policy=dg.BackfillPolicy.single_run(),
       description="One LoRA experiment per partition (seed 002 section 6): data/finetune/experiments/<name>/. "
                   "A partition range runs in one process (the base model loads once).")
def lora_experiments(context: dg.AssetExecutionContext, config: ExperimentConfig) -> dg.MaterializeResult:
    results = {name: _run(context, name, config) for name in context.partition_keys}
    keys = ["train_loss", "val_loss", "perplexity", "rouge1", "rouge2", "rougeL", "bleu", "peak_memory_gb",
            "minutes", "steps", "trainable_params"]
    per_run = {}
    if len(results) == 1:
        (name, res), = results.items()
        per_run = {**{k: res[k] for k in keys}, "path": str(experiments.experiments_dir() / name)}
    return dg.MaterializeResult(metadata={**per_run, "experiments": dg.MetadataValue.json(sorted(results)),
                                       **_table_metadata()})


class FinetunedConfig(ExperimentConfig):
    # Experiments missing for the current data set are run here first, so the unpartitioned
    # embedded_default job produces the full table on its own. Empty = use only what exists.
    run_missing: list[str] = list(experiments.EXPERIMENTS)


@dg.asset(group_name=GROUP, deps=[instruction_dataset, lora_experiments],
       description="Best experiment by val loss, merged into the base (data/finetune/merged/), vs the base on the test split.")
def finetuned_model(context: dg.AssetExecutionContext, config: FinetunedConfig) -> dg.MaterializeResult:
    done = {r["experiment"] for r in experiments.load_experiment_results(dataset=instruction_data.fingerprint(_dataset_dir()))}
    for name in config.run_missing:
        if name not in done:
            context.log.info(f"experiment {name} has no results for this data set: running it now")
            _run(context, name, config)
    max_length = 512 if config.full else config.max_length
    with torch_threads(config.threads):
        report = experiments.finalize(_dataset_dir(), config.eval_settings(), max_length=max_length)
    context.log.info(f"best experiment {report['best_experiment']} merged -> {report['merged_dir']}")
    for c in report["comparison"]:
        context.log.info(f"{c['metric']}: base {c['base']:.4f} fine-tuned {c['finetuned']:.4f} ({c['delta']:+.4f})")
    return dg.MaterializeResult(metadata={
        "best_experiment": report["best_experiment"], "best_val_loss": report["best_val_loss"],
        "merged_dir": dg.MetadataValue.path(report["merged_dir"]),
        "base_vs_finetuned": dg.MetadataValue.md(experiments.comparison_markdown(report)),
        "samples": dg.MetadataValue.json(report["samples"][:3]), **_table_metadata()})


@dg.asset_check(asset=finetuned_model, description="The merged model loads offline with plain transformers (no GGUF quantizer) and answers.")
def finetuned_model_loads() -> dg.AssetCheckResult:
    from alslm_ml.finetune.system import load_finetuned
    from alslm_ml.systems import GenerationConfig

    system = load_finetuned()
    cfg = json.loads((paths.finetune_merged_dir() / "config.json").read_text())
    ans = system.answer("What is ALS?", GenerationConfig.greedy(8))
    ok = "quantization_config" not in cfg and ans.completion_tokens > 0
    return dg.AssetCheckResult(passed=ok, metadata={"answer": ans.text, "quantization_config": "quantization_config" in cfg})
