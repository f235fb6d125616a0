"""One training run as the `model_checkpoint` asset launches it: plan the command, run it in a
subprocess (a crash or OOM kill never takes the caller down), then read the run's summary into
plain metadata. The asset only logs and wraps these in Dagster metadata."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from alslm_ml import paths
from alslm_ml.markdown import png_markdown
from alslm_ml.train.config import load_train_config
from alslm_ml.train.launch import build_command, deepspeed_env, run_streaming
from alslm_ml.train.metrics import read_log
from alslm_ml.train.overview import loss_curve_png, run_overview
from alslm_ml.train.trainer import LOG_CSV, SUMMARY


@dataclass
class Launch:
    """The planned run: where it writes, the command, and the model it trains."""

    run_name: str
    run_dir: Path
    cmd: list[str]
    gpus: int
    model: str

    def describe(self) -> str:
        where = f"deepspeed on {self.gpus} GPU(s)" if self.gpus else "CPU (plain PyTorch)"
        return f"{where}: {' '.join(self.cmd)}"


def plan_run(config: str, run_name: str = "", overrides: list[str] | None = None, gpus: int = -1, hostfile: str = "",
             deepspeed_config: str = "", resume: bool = True, overwrite: bool = True) -> Launch:
    """Validate the config (fail fast, before launching) and build the command: the deepspeed
    launcher on the visible GPUs (gpus -1 = all), plain Python on CPU."""
    cfg = load_train_config(config, overrides)
    run_name = run_name or Path(config).stem
    run_dir = paths.checkpoints_dir(run_name)
    n_gpus = 0
    if torch.cuda.is_available():
        n_gpus = torch.cuda.device_count() if gpus < 0 else gpus
    cmd = build_command(config, paths.tokens_dir(), run_dir, overrides, gpus=n_gpus, hostfile=hostfile,
                        deepspeed_config=deepspeed_config, resume=resume, overwrite=overwrite)
    return Launch(run_name, run_dir, cmd, n_gpus, cfg.model)


def run_training(launch: Launch, on_line: Callable[[str], None]) -> dict:
    """Run the planned command, streaming its lines; returns the run's summary.json. A failed run
    keeps its checkpoints, so running again resumes from the last good one."""
    rc = run_streaming(launch.cmd, on_line, env=deepspeed_env())
    summary_path = launch.run_dir / SUMMARY
    if rc != 0 or not summary_path.exists():
        raise RuntimeError(f"training exited with code {rc} (log above); checkpoints kept in {launch.run_dir} — "
                           "materialize again to resume from the last good one")
    return json.loads(summary_path.read_text())


def _round(x, nd=4):
    return None if x is None else round(float(x), nd)


def checkpoint_metadata(launch: Launch, summary: dict) -> tuple[dict, str | None]:
    """(metadata, warning or None) of a finished run: losses vs the unigram baseline, throughput,
    the loss-curve PNG (written next to the checkpoints and inlined as Markdown)."""
    run_dir, csv = launch.run_dir, launch.run_dir / LOG_CSV
    rep = run_overview(csv, summary)
    title = f"{launch.run_name}: {summary['parameters'] / 1e6:.1f}M-parameter GPT ({launch.model})"
    png = loss_curve_png(read_log(csv), summary["unigram_val_loss"], run_dir / "loss_curve.png", title)
    warning = None
    if rep["best_val_loss"] is not None and rep["best_val_loss"] >= summary["unigram_val_loss"]:
        warning = (f"best val loss {rep['best_val_loss']:.4f} does not beat the unigram baseline "
                   f"{summary['unigram_val_loss']:.4f}: the model learned nothing beyond token frequencies")
    mc = summary["model_config"]
    meta = {
        "parameters": summary["parameters"],
        "shape": f"{mc['n_layer']} layers x {mc['n_embd']} wide, {mc['n_head']} heads, context {mc['block_size']}, vocab {mc['vocab_size']}",
        "steps": summary["steps"],
        "tokens_seen": summary["tokens"],
        "train_tokens": summary["train_tokens"],
        "epochs": _round(summary["tokens"] / max(summary["train_tokens"], 1), 2),
        "stop_reason": summary["stop_reason"],
        "final_train_loss": _round(rep["final_train_loss"]),
        "final_val_loss": _round(rep["final_val_loss"]),
        "best_val_loss": _round(rep["best_val_loss"]),
        "best_step": rep["best_step"],
        "unigram_baseline_val_loss": _round(rep["unigram_val_loss"]),
        "beats_unigram_by_nats": _round(rep["beats_unigram_by"]),
        "overfitting": rep["overfitting"],
        "tokens_per_s_median": _round(rep["tokens_per_s_median"], 1),
        "gflops_per_s_median": _round(rep["gflops_per_s_median"], 2),
        "mfu_median": _round(rep["mfu_median"], 5),
        "peak_flops": f"{summary['peak_flops'] / 1e12:.3f} TFLOP/s ({summary['peak_source']})",
        "device": summary["device"] + (" + DeepSpeed" if summary["deepspeed"] else ""),
        "wall_s": _round(summary["elapsed_s"], 1),
        "eval_and_checkpoint_s": _round(summary.get("eval_s", 0) + summary.get("checkpoint_s", 0), 1),
        "fit_plan": summary.get("fit_plan") or {"device": summary["device"], "plan": "CPU: config as given"},
        "compiled": summary.get("compiled", False),
        "loss_curve": png_markdown(png, "loss curves"),
    }
    return meta, warning
