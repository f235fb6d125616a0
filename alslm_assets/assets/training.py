"""Training stage: tokenized_corpus -> model_checkpoint (data/checkpoints/<run_name>/).

Training runs in a subprocess — the `deepspeed` launcher when CUDA is available, plain Python on
CPU — so a crash or OOM kill never takes Dagster down, and re-materializing resumes from the last
good checkpoint. Its output streams line by line into context.log.
"""


import json
from pathlib import Path

import torch
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from alslm_ml.markdown import png_markdown
from alslm_ml.paths import sub
from alslm_ml.train.config import load_train_config
from alslm_ml.train.launch import build_command, deepspeed_env, run_streaming
from alslm_ml.train.metrics import read_log
from alslm_ml.train.overview import loss_curve_png, run_overview
from alslm_ml.train.trainer import LOG_CSV, SUMMARY

GROUP = "training"


class TrainingConfig(Config):
    config: str = "tiny"  # preset (tiny | micro | 500m | 1b) or a .json/.yaml file; full scale: "500m"
    run_name: str = ""  # checkpoint directory name under data/checkpoints/ (default: the config name)
    overrides: list[str] = []  # key=value training options, e.g. ["max_steps=200"]
    gpus: int = -1  # GPUs for the deepspeed launcher: -1 = all visible, 0 = CPU (plain PyTorch)
    hostfile: str = ""  # DeepSpeed hostfile for several nodes (overrides gpus)
    deepspeed_config: str = ""  # DeepSpeed JSON (default: the preset's ds_config_zero2/3.json)
    resume: bool = True  # continue an interrupted run from its last good checkpoint
    overwrite: bool = True  # a finished run in run_name is archived (<run>.archived-<time>), never deleted


def _r(x, nd=4):
    return None if x is None else round(float(x), nd)


@asset(group_name=GROUP, deps=["tokenized_corpus"],
       description="GPT trained from scratch on the token streams; best/ and step_N/ checkpoints in data/checkpoints/<run>/.")
def model_checkpoint(context: AssetExecutionContext, config: TrainingConfig) -> MaterializeResult:
    cfg = load_train_config(config.config, config.overrides)  # fail fast on a bad config, before launching
    run_name = config.run_name or Path(config.config).stem
    run_dir = sub("checkpoints", run_name)
    tokens_dir = sub("tokens")
    gpus = 0
    if torch.cuda.is_available():
        gpus = torch.cuda.device_count() if config.gpus < 0 else config.gpus
    cmd = build_command(config.config, tokens_dir, run_dir, config.overrides, gpus=gpus, hostfile=config.hostfile,
                        deepspeed_config=config.deepspeed_config, resume=config.resume,
                        overwrite=config.overwrite)
    context.log.info(f"{'deepspeed on ' + str(gpus) + ' GPU(s)' if gpus else 'CPU (plain PyTorch)'}: {' '.join(cmd)}")
    rc = run_streaming(cmd, lambda line: context.log.info(line) if line.strip() else None, env=deepspeed_env())
    summary_path = run_dir / SUMMARY
    if rc != 0 or not summary_path.exists():
        raise RuntimeError(f"training exited with code {rc} (log above); checkpoints kept in {run_dir} — "
                           "materialize again to resume from the last good one")
    summary = json.loads(summary_path.read_text())
    rep = run_overview(run_dir / LOG_CSV, summary)
    title = f"{run_name}: {summary['parameters'] / 1e6:.1f}M-parameter GPT ({cfg.model})"
    png = loss_curve_png(read_log(run_dir / LOG_CSV), summary["unigram_val_loss"], run_dir / "loss_curve.png", title)
    if rep["best_val_loss"] is not None and rep["best_val_loss"] >= summary["unigram_val_loss"]:
        context.log.warning(f"best val loss {rep['best_val_loss']:.4f} does not beat the unigram baseline "
                            f"{summary['unigram_val_loss']:.4f}: the model learned nothing beyond token frequencies")
    mc = summary["model_config"]
    return MaterializeResult(metadata={
        "path": MetadataValue.path(str(run_dir)),
        "best_model": MetadataValue.path(str(run_dir / "best" / "model")),
        "parameters": summary["parameters"],
        "shape": f"{mc['n_layer']} layers x {mc['n_embd']} wide, {mc['n_head']} heads, context {mc['block_size']}, vocab {mc['vocab_size']}",
        "steps": summary["steps"],
        "tokens_seen": summary["tokens"],
        "train_tokens": summary["train_tokens"],
        "epochs": _r(summary["tokens"] / max(summary["train_tokens"], 1), 2),
        "stop_reason": summary["stop_reason"],
        "final_train_loss": _r(rep["final_train_loss"]),
        "final_val_loss": _r(rep["final_val_loss"]),
        "best_val_loss": _r(rep["best_val_loss"]),
        "best_step": rep["best_step"],
        "unigram_baseline_val_loss": _r(rep["unigram_val_loss"]),
        "beats_unigram_by_nats": _r(rep["beats_unigram_by"]),
        "overfitting": rep["overfitting"],
        "tokens_per_s_median": _r(rep["tokens_per_s_median"], 1),
        "gflops_per_s_median": _r(rep["gflops_per_s_median"], 2),
        "mfu_median": _r(rep["mfu_median"], 5),
        "peak_flops": f"{summary['peak_flops'] / 1e12:.3f} TFLOP/s ({summary['peak_source']})",
        "device": summary["device"] + (" + DeepSpeed" if summary["deepspeed"] else ""),
        "wall_s": _r(summary["elapsed_s"], 1),
        "eval_and_checkpoint_s": _r(summary.get("eval_s", 0) + summary.get("checkpoint_s", 0), 1),
        "fit_plan": MetadataValue.json(summary.get("fit_plan") or {"device": summary["device"], "plan": "CPU: config as given"}),
        "compiled": summary.get("compiled", False),
        "loss_curve": MetadataValue.md(png_markdown(png, "loss curves")),
        "loss_curve_png": MetadataValue.path(str(run_dir / "loss_curve.png")),
    })
