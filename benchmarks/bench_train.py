"""Training throughput: tokens/s, MFU and peak memory for a fixed number of optimizer steps.

Times the ALS-LM GPT (alslm_ml.model.GPT + the trainer's AdamW groups) and, for reference, a
straightforward nanoGPT-style GPT of the same shape written inline below, the same way: same
batch, same optimizer, same number of steps after the same warmup. Random tokens: data loading is
not what is measured.

  python benchmarks/bench_train.py --config tiny --steps 20
  python benchmarks/bench_train.py --config 500m --device cuda --steps 20
  python benchmarks/bench_train.py --config micro --deepspeed      # single-process DeepSpeed (gloo on CPU)
  python benchmarks/bench_train.py --config 500m --launcher --steps 60   # the model_checkpoint asset's own path

--launcher runs what the `model_checkpoint` asset runs (launch.build_command: the `deepspeed`
launcher on GPUs, plain Python on CPU) on random tokens, reads tokens/s and MFU from the run's
metrics.csv (median of the log rows after the first two, which hold the compile), then times the
nanoGPT-style reference in this process at the micro batch the run's fit plan chose.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import resource
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from alslm_ml.model import GPT
from alslm_ml.train.config import DEFAULT_DEEPSPEED_CONFIG, load_train_config
from alslm_ml.train.launch import build_command, deepspeed_env, run_streaming, single_process_env
from alslm_ml.train.metrics import peak_flops
from alslm_ml.train.optim import make_adamw
from alslm_ml.train.trainer import init_deepspeed, micro_step, optimizer_step

# --- the reference: nanoGPT's model.py, reduced to the same GPT-2 shape ---------------------------

class RefBlock(nn.Module):
    def __init__(self, d: int, h: int, p: float):
        super().__init__()
        self.h, self.p = h, p
        self.drop = nn.Dropout(p)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.p if self.training else 0.0)
        x = x + self.drop(self.proj(y.transpose(1, 2).reshape(B, T, C)))
        return x + self.drop(self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh")))


class RefGPT(nn.Module):
    def __init__(self, vocab: int, block: int, n_layer: int, n_head: int, d: int, p: float):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(block, d)
        self.drop = nn.Dropout(p)
        self.blocks = nn.ModuleList(RefBlock(d, n_head, p) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight

    def forward(self, idx, targets):
        x = self.drop(self.wte(idx) + self.wpe(torch.arange(idx.size(1), device=idx.device)))
        for b in self.blocks:
            x = b(x)
        logits = self.head(self.ln_f(x))
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.view(-1))


# --- timing -------------------------------------------------------------------------------------

def peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB -> GB (process peak RSS)


def run(model: nn.Module, cfg, mcfg, device, steps: int, warmup: int, bf16: bool, engine=None) -> dict:
    opt = None if engine else make_adamw(model, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2))
    B, T = cfg.batch_size, mcfg.block_size
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, mcfg.vocab_size, (B, T + 1), generator=g) for _ in range(4)]
    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if (bf16 and engine is None) else torch.autocast(device.type, enabled=False)
    net = engine or model
    net.train()
    t0 = None
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        for a in range(cfg.grad_accum):
            xy = batches[(i + a) % 4].to(device)
            x, y = xy[:, :-1].contiguous(), xy[:, 1:].contiguous()
            loss = micro_step(model, engine, x, y, cfg.grad_accum, ctx)
        optimizer_step(model, opt, engine, cfg.grad_clip)
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    tokens = steps * cfg.grad_accum * B * T
    return {"tokens_per_s": tokens / dt, "s_per_step": dt / steps, "loss": loss.item(), "peak_mem_gb": peak_memory_gb(device)}


def random_tokens(directory: Path, vocab: int, n_train: int, n_val: int) -> Path:
    """uint16 token streams of uniform random ids, with the meta.json the trainer reads."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    for name, n in (("train.bin", n_train), ("val.bin", n_val)):
        rng.integers(2, vocab, size=n, dtype=np.uint16).tofile(directory / name)
    meta = {"vocab_size": vocab, "dtype": "uint16", "eos_id": 1,
            "splits": {"train": {"tokens": n_train}, "val": {"tokens": n_val}}}
    (directory / "meta.json").write_text(json.dumps(meta))
    return directory


def launcher_run(config: str, steps: int, extra: list[str], workdir: Path) -> dict:
    """The asset's path end to end on random tokens: tokens/s, MFU and the settings the run chose."""
    cfg = load_train_config(config, extra)
    mcfg = cfg.model_config()
    tokens_per_step = cfg.tokens_per_step or cfg.batch_size * cfg.grad_accum * mcfg.block_size
    tokens = random_tokens(workdir / "tokens", mcfg.vocab_size, tokens_per_step * (steps + 2) + mcfg.block_size + 2,
                           8 * (mcfg.block_size + 1))
    log_every = max(1, steps // 10)
    overrides = [*extra, f"max_steps={steps}", f"log_interval={log_every}", f"eval_interval={10**9}",
                 f"checkpoint_interval={10**9}", "eval_batches=1", "warmup_steps=10", "patience=0"]
    gpus = torch.cuda.device_count()
    cmd = build_command(config, tokens, workdir / "run", overrides, gpus=gpus, resume=False)
    print("launcher:", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    rc = run_streaming(cmd, lambda line: print("  |", line, flush=True), env=deepspeed_env())
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"launcher run failed with exit code {rc}")
    with open(workdir / "run" / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["tokens_per_s"]]
    timed = rows[2:] or rows[-1:]
    summary = json.loads((workdir / "run" / "summary.json").read_text())
    run_cfg = summary["config"]
    return {"tokens_per_s": statistics.median(float(r["tokens_per_s"]) for r in timed),
            "mfu": statistics.median(float(r["mfu"]) for r in timed) if timed[0]["mfu"] else math.nan,
            "peak_mem_gb": max(float(r["gpu_mem_gb"] or 0) for r in timed), "wall_s": wall,
            "micro_batch": run_cfg["batch_size"], "grad_accum": run_cfg["grad_accum"],
            "checkpointing": run_cfg["gradient_checkpointing"], "compiled": summary.get("compiled"),
            "deepspeed": summary["deepspeed"], "zero_stage": summary.get("zero_stage"),
            "fit_plan": summary.get("fit_plan"), "checkpoint_s": summary.get("checkpoint_s")}


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="tiny")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    ap.add_argument("--deepspeed", action="store_true", help="time the ALS-LM model under DeepSpeed (single process)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=0)
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--dropout", type=float, default=None, help="override the model dropout (both models)")
    ap.add_argument("--repeat", type=int, default=1, help="interleaved rounds (median reported)")
    ap.add_argument("--launcher", action="store_true", help="time the model_checkpoint asset's launcher path (see above)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="training option for --launcher")
    return ap.parse_args()


def time_launcher(args, cfg):
    """Run the asset's launcher path, print its figures; returns (its result, cfg at its micro batch)."""
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        launched = launcher_run(args.config, args.steps, args.set, Path(tmp))
    print(f"launcher path: {launched['tokens_per_s']:,.0f} tokens/s, MFU {launched['mfu']:.2%}, peak GPU mem "
          f"{launched['peak_mem_gb']:.1f} GB, micro batch {launched['micro_batch']} x accum {launched['grad_accum']}, "
          f"checkpointing={launched['checkpointing']}, compiled={launched['compiled']}, DeepSpeed engine={launched['deepspeed']} "
          f"(ZeRO {launched['zero_stage']}), whole command {launched['wall_s']:.0f} s, final checkpoint {launched['checkpoint_s']:.1f} s")
    print(f"fit plan: {json.dumps(launched['fit_plan'])}")
    return launched, replace(cfg, batch_size=launched["micro_batch"], grad_accum=launched["grad_accum"],
                             gradient_checkpointing=launched["checkpointing"])


def settle_config(args, cfg):
    """The open choices settled as on CPU (micro batch 4, accum 1), then the command line's overrides."""
    cfg = replace(cfg, batch_size=cfg.batch_size or 4, grad_accum=cfg.grad_accum or 1,
                  gradient_checkpointing=bool(cfg.gradient_checkpointing))
    if args.batch_size:
        cfg.batch_size = args.batch_size
    if args.threads or cfg.threads:
        torch.set_num_threads(args.threads or cfg.threads)
    if args.dropout is not None:
        cfg.model_overrides = {**cfg.model_overrides, "dropout": args.dropout}
    return cfg


def build_ours(args, cfg, mcfg, device, bf16):
    """The ALS-LM GPT on the device, under a single-process DeepSpeed engine with --deepspeed:
    (model, engine or None, name)."""
    torch.manual_seed(0)
    ours = GPT(mcfg)
    ours.gradient_checkpointing = cfg.gradient_checkpointing
    ours.to(device)
    if not args.deepspeed:
        return ours, None, "alslm GPT"
    for k, v in single_process_env().items():
        os.environ.setdefault(k, v)
    cfg.deepspeed_config = cfg.deepspeed_config or str(DEFAULT_DEEPSPEED_CONFIG)
    if cfg.zero_stage < 0:
        cfg.zero_stage = 2
    engine, _, ds_cfg = init_deepspeed(cfg, ours, device, bf16)
    return ours, engine, f"alslm GPT + DeepSpeed ZeRO-{ds_cfg['zero_optimization']['stage']}"


def print_results(runs: dict[str, list[dict]], repeat: int, flops_tok: float, peak: float) -> None:
    results = {name: {**rs[0], "tokens_per_s": statistics.median(r["tokens_per_s"] for r in rs),
                      "s_per_step": statistics.median(r["s_per_step"] for r in rs),
                      "peak_mem_gb": max(r["peak_mem_gb"] for r in rs)} for name, rs in runs.items()}
    print(f"median of {repeat} interleaved round(s)")
    print(f"{'implementation':<34} {'tokens/s':>10} {'s/step':>8} {'GFLOP/s':>9} {'MFU':>8} {'peak mem GB':>11}")
    for name, r in results.items():
        gf = r["tokens_per_s"] * flops_tok / 1e9
        mfu = r["tokens_per_s"] * flops_tok / peak if peak else math.nan
        print(f"{name:<34} {r['tokens_per_s']:>10,.0f} {r['s_per_step']:>8.3f} {gf:>9.2f} {mfu:>8.2%} {r['peak_mem_gb']:>11.2f}")


def main() -> None:
    args = parse_args()
    cfg = load_train_config(args.config)
    launched = None
    if args.launcher:
        launched, cfg = time_launcher(args, cfg)
    cfg = settle_config(args, cfg)
    mcfg = cfg.model_config()
    device = torch.device(args.device)
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    flops_tok = mcfg.flops_per_token()
    peak, src = peak_flops(device)
    print(f"config {args.config}: {mcfg.num_params() / 1e6:.2f}M params, {mcfg.n_layer}x{mcfg.n_embd}, context {mcfg.block_size}, "
          f"dropout {mcfg.dropout}, micro batch {cfg.batch_size} x accum {cfg.grad_accum}; device {device}, bf16={bf16}, threads {torch.get_num_threads()}; "
          f"peak {peak / 1e12:.3f} TFLOP/s ({src}); {args.steps} timed steps after {args.warmup} warmup")
    runs: dict[str, list[dict]] = {}
    ours, engine, ours_name = build_ours(args, cfg, mcfg, device, bf16) if not launched else (None, None, "")
    ref = None
    if not args.skip_reference:
        torch.manual_seed(0)
        ref = RefGPT(mcfg.vocab_size, mcfg.block_size, mcfg.n_layer, mcfg.n_head, mcfg.n_embd, mcfg.dropout).to(device)
        assert sum(p.numel() for p in ref.parameters()) == mcfg.num_params(), "reference shape differs"
    if launched:
        runs["launcher path (model_checkpoint)"] = [{k: launched[k] for k in ("tokens_per_s", "peak_mem_gb")}
                                                    | {"s_per_step": launched["micro_batch"] * launched["grad_accum"]
                                                       * mcfg.block_size / launched["tokens_per_s"]}]
    for _ in range(args.repeat):  # interleaved, so load changes on a shared machine hit both alike
        if ours is not None:
            runs.setdefault(ours_name, []).append(run(ours, cfg, mcfg, device, args.steps, args.warmup, bf16, engine))
        if ref is not None:
            runs.setdefault("nanoGPT-style reference", []).append(run(ref, cfg, mcfg, device, args.steps, args.warmup, bf16))
    print_results(runs, args.repeat, flops_tok, peak)


if __name__ == "__main__":
    main()
