"""Overview of a finished run: loss-curve plot and the overfitting / baseline comparison (the
`model_checkpoint` metadata)."""

from __future__ import annotations

import statistics
from pathlib import Path

from alslm_ml import markdown
from alslm_ml.train.metrics import read_log


def loss_curve_png(rows: list[dict], baseline: float | None, out: str | Path, title: str = "") -> bytes:
    plt = markdown.pyplot()
    tr = [(r["step"], r["train_loss"]) for r in rows if r.get("train_loss") is not None]
    va = [(r["step"], r["val_loss"]) for r in rows if r.get("val_loss") is not None]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if tr:
        ax.plot(*zip(*tr), label="train loss", lw=1.2)
    if va:
        ax.plot(*zip(*va), "o-", label="val loss", ms=3)
    if baseline is not None:
        ax.axhline(baseline, color="gray", ls="--", lw=1, label=f"unigram baseline ({baseline:.2f})")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(title or "training curves")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png = markdown.figure_png(fig)
    Path(out).write_bytes(png)
    return png


def run_overview(csv_path: str | Path, summary: dict) -> dict:
    """Figures for the asset metadata: final/best losses, throughput, MFU, train/val gap."""
    rows = read_log(csv_path)
    train = [r for r in rows if r.get("train_loss") is not None]
    val = [r for r in rows if r.get("val_loss") is not None]
    speed = [r["tokens_per_s"] for r in rows if r.get("tokens_per_s")]
    mfu = [r["mfu"] for r in rows if r.get("mfu")]
    gflops = [r["gflops_per_s"] for r in rows if r.get("gflops_per_s")]
    best = summary.get("best_val_loss")
    at_best = next((r for r in val if r["step"] == summary.get("best_step")), None)
    final_train = train[-1]["train_loss"] if train else None
    final_val = val[-1]["val_loss"] if val else None
    gap_best = (at_best["val_loss"] - at_best["train_loss"]) if at_best and at_best.get("train_loss") is not None else None
    gap_final = (final_val - final_train) if final_val is not None and final_train is not None else None
    overfit = "no evaluation yet"
    if best is not None and final_val is not None:
        overfit = (f"val loss bottomed at {best:.4f} (step {summary.get('best_step')}); final val {final_val:.4f} "
                   f"({final_val - best:+.4f} vs best); train/val gap {gap_final:+.4f} at the end"
                   + (f", {gap_best:+.4f} at the best step" if gap_best is not None else ""))
    return {
        "final_train_loss": final_train,
        "final_val_loss": final_val,
        "best_val_loss": best,
        "best_step": summary.get("best_step"),
        "unigram_val_loss": summary.get("unigram_val_loss"),
        "beats_unigram_by": (summary["unigram_val_loss"] - best) if best is not None else None,
        "tokens_per_s_median": statistics.median(speed) if speed else None,
        "gflops_per_s_median": statistics.median(gflops) if gflops else None,
        "mfu_median": statistics.median(mfu) if mfu else None,
        "train_val_gap_final": gap_final,
        "train_val_gap_at_best": gap_best,
        "overfitting": overfit,
    }
