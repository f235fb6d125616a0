"""Seed 002's hyperparameter experiments (section 6) and the final base-vs-fine-tuned comparison
(section 7) on the ALS instruction data.

Each experiment trains a fresh LoRA adapter on the base model and writes
data/finetune/experiments/<name>/{results.json, samples.jsonl, adapter/}. `finalize` picks the
experiment with the lowest val loss, merges its adapter into the base weights
(data/finetune/merged/, plain transformers) and scores base and merged model on the test split.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from alslm_ml import markdown, paths
from alslm_ml.finetune.data import Example, fingerprint, read_split
from alslm_ml.finetune.metrics import perplexity, text_metrics
from alslm_ml.finetune.model import device_and_dtype, load_base, save_hf
from alslm_ml.finetune.system import generate
from alslm_ml.finetune.train import LoraSettings, add_lora, eval_loss, peak_memory_gb, train_lora
from alslm_ml.runtime.base import GenerationConfig

# The seed's four runs; everything not named here is the LoraSettings default (alpha 32,
# dropout 0.05, q_proj/v_proj, effective batch 16, cosine schedule with 3% warmup).
EXPERIMENTS: dict[str, dict] = {
    "r8": {"r": 8, "lr": 2e-4, "epochs": 1},         # EXP-01 baseline: rank 8, one epoch
    "r16": {"r": 16, "lr": 2e-4, "epochs": 2},       # EXP-02: rank 16, two epochs (seed's best)
    "lr5e-5": {"r": 16, "lr": 5e-5, "epochs": 2},    # EXP-03: lower learning rate
    "epochs3": {"r": 16, "lr": 2e-4, "epochs": 3},   # EXP-04: three epochs
}


@dataclass
class EvalSettings:
    """How much of a split is scored. 0 = all of it."""

    loss_examples: int = 0  # examples for val/test loss and perplexity
    gen_examples: int = 0  # examples answered greedily for ROUGE/BLEU
    gen_max_tokens: int = 128


def experiments_dir() -> Path:
    return paths.finetune_experiments_dir()


def settings_for(name: str, **overrides) -> LoraSettings:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return replace(LoraSettings(), **{**EXPERIMENTS[name], **overrides})


def _take(rows: list[Example], n: int) -> list[Example]:
    return rows[:n] if n else rows


def score(model, tok, examples: list[Example], ev: EvalSettings, max_length: int, desc: str) -> tuple[dict, list[dict]]:
    """Loss/perplexity and ROUGE/BLEU of one model on one split."""
    loss = eval_loss(model, tok, _take(examples, ev.loss_examples), max_length)
    gen_rows = _take(examples, ev.gen_examples)
    cfg = GenerationConfig.greedy(ev.gen_max_tokens)
    preds = [generate(model, tok, ex.question, cfg)[0] for ex in tqdm(gen_rows, desc=desc, unit="answer")]
    metrics = {"loss": loss, "perplexity": perplexity(loss), **text_metrics(preds, [e.answer for e in gen_rows])}
    samples = [{"question": e.question, "reference": e.answer, "prediction": p} for e, p in zip(gen_rows, preds)]
    return metrics, samples


def run_experiment(name: str, dataset_dir: Path, ev: EvalSettings, out_root: Path | None = None,
                   log=None, **overrides) -> dict:
    """Train one experiment's adapter and score it on the validation split."""
    s = settings_for(name, **overrides)
    out = (out_root or experiments_dir()) / name
    out.mkdir(parents=True, exist_ok=True)
    train_rows, val_rows = read_split(dataset_dir, "train"), read_split(dataset_dir, "val")
    t0 = time.perf_counter()
    device, _ = device_and_dtype()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    model, tok = load_base(device)
    model = add_lora(model, s)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    stats = train_lora(model, tok, train_rows, s, log=log)
    metrics, samples = score(model, tok, val_rows, ev, s.max_length, f"{name} val answers")
    model.save_pretrained(out / "adapter")
    results = {
        "experiment": name, "dataset": fingerprint(dataset_dir), "settings": s.to_dict(), "eval": asdict(ev),
        "train_examples": len(train_rows), "val_examples": len(val_rows),
        "trainable_params": n_trainable, "steps": stats["steps"],
        "train_loss": stats["train_loss"], "val_loss": metrics["loss"],
        "perplexity": metrics["perplexity"], "rouge1": metrics["rouge1"], "rouge2": metrics["rouge2"],
        "rougeL": metrics["rougeL"], "bleu": metrics["bleu"],
        "tokens_per_second": stats["tokens_per_second"],
        "peak_memory_gb": peak_memory_gb(device), "memory_kind": "gpu_allocated" if device.startswith("cuda") else "process_peak_rss",
        "minutes": (time.perf_counter() - t0) / 60, "device": device, "history": stats["history"],
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    with open(out / "samples.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in samples)
    return results


def load_experiment_results(out_root: Path | None = None, dataset: str | None = None) -> list[dict]:
    """results.json of every experiment run so far (on data set `dataset`, if given), in
    EXPERIMENTS order."""
    root = out_root or experiments_dir()
    found = [json.loads(p.read_text()) for p in (root / n / "results.json" for n in EXPERIMENTS) if p.is_file()]
    return [r for r in found if dataset is None or r.get("dataset") == dataset]


TABLE_COLUMNS = ["experiment", "r", "lr", "epochs", "steps", "train_loss", "val_loss", "rouge1", "rouge2",
                 "rougeL", "bleu", "perplexity", "peak_memory_gb", "minutes"]


def table_markdown(results: list[dict]) -> str:
    """The seed's experiments table, as Markdown."""
    rows = []
    for r in results:
        vals = {**r, "r": r["settings"]["r"], "lr": f"{r['settings']['lr']:g}", "epochs": r["settings"]["epochs"]}
        rows.append([f"{vals[c]:.4f}" if isinstance(vals[c], float) else vals[c] for c in TABLE_COLUMNS])
    return markdown.table(TABLE_COLUMNS, rows)


def finalize(dataset_dir: Path, ev: EvalSettings, out_root: Path | None = None,
             merged_out: Path | None = None, max_length: int = 512) -> dict:
    """Merge the best adapter (lowest val loss) and compare base vs fine-tuned on the test split."""
    from peft import PeftModel

    results = load_experiment_results(out_root, fingerprint(dataset_dir))
    if not results:
        raise FileNotFoundError(f"no experiment results for the current instruction data set under "
                                f"{out_root or experiments_dir()}: materialize partitions of `lora_experiments` first")
    best = min(results, key=lambda r: r["val_loss"])
    adapter = (out_root or experiments_dir()) / best["experiment"] / "adapter"
    test_rows = read_split(dataset_dir, "test")
    device, _ = device_and_dtype()

    base, tok = load_base(device)
    base_metrics, base_samples = score(base, tok, test_rows, ev, max_length, "base test answers")
    del base

    model, tok = load_base(device)
    merged = PeftModel.from_pretrained(model, adapter).merge_and_unload().eval()
    merged.config.use_cache = True
    ft_metrics, ft_samples = score(merged, tok, test_rows, ev, max_length, "fine-tuned test answers")
    out = merged_out or paths.finetune_merged_dir()
    save_hf(merged, tok, out)

    keys = ["rouge1", "rouge2", "rougeL", "bleu", "perplexity", "loss"]
    comparison = [{"metric": k, "base": base_metrics[k], "finetuned": ft_metrics[k],
                   "delta": ft_metrics[k] - base_metrics[k]} for k in keys]
    report = {"best_experiment": best["experiment"], "best_val_loss": best["val_loss"],
              "test_examples": len(test_rows), "eval": asdict(ev), "comparison": comparison,
              "merged_dir": str(out),
              "samples": [{"question": b["question"], "reference": b["reference"], "base": b["prediction"],
                           "finetuned": f["prediction"]} for b, f in zip(base_samples, ft_samples)]}
    (out.parent / "comparison.json").write_text(json.dumps(report, indent=2))
    return report


def comparison_markdown(report: dict) -> str:
    return markdown.table(["metric", "base", "fine-tuned", "delta"],
                          [[c["metric"], f"{c['base']:.4f}", f"{c['finetuned']:.4f}", f"{c['delta']:+.4f}"]
                           for c in report["comparison"]])
