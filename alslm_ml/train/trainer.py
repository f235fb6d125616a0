"""The training loop (design doc section 5), nanoGPT-style: one function, plain PyTorch on one
process, or DeepSpeed (ZeRO-2/3, bf16, optimizer CPU offload) when started by the `deepspeed`
launcher. Both paths share the data order, schedule, logging, evaluation, early stopping and the
checkpoint format, so a run can move between them.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import load_file

from alslm_ml.errors import UserError
from alslm_ml.model import GPT, GPTConfig
from alslm_ml.tokenizer.encode import read_meta
from alslm_ml.train import checkpoint, launch
from alslm_ml.train.budget import GIB, FitPlan, pinned_choices, plan_fit
from alslm_ml.train.config import TrainConfig
from alslm_ml.train.data import EpochSampler, load_streams, unigram_baseline, val_batches
from alslm_ml.train.metrics import CsvLog, gpu_reading, peak_flops
from alslm_ml.train.optim import lr_at, make_adamw, param_groups, set_lr

SUMMARY = "summary.json"
LOG_CSV = "metrics.csv"


def _device(cfg: TrainConfig, local_rank: int) -> torch.device:
    if cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch.cuda.is_available() is False")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def _use_bf16(cfg: TrainConfig, device: torch.device) -> bool:
    if cfg.dtype == "bf16":
        return True
    if cfg.dtype == "fp32":
        return False
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def _load_weights(model: GPT, ckpt: Path) -> None:
    sd = load_file(str(ckpt / "model" / "model.safetensors"))
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if [k for k in missing if k != "lm_head.weight"] or unexpected:
        raise checkpoint.CorruptCheckpoint(f"{ckpt}/model: missing {missing}, unexpected {unexpected}")


class _Stop:
    """SIGTERM/SIGINT: finish the current step, checkpoint, exit cleanly."""

    def __init__(self):
        self.signal = None
        for s in (signal.SIGTERM, signal.SIGINT):
            try:
                signal.signal(s, self._handle)
            except ValueError:  # not the main thread
                pass

    def _handle(self, signum, _frame):
        self.signal = signum


def fit_to_machine(cfg: TrainConfig, mcfg: GPTConfig, device: torch.device, world: int,
                   say: Callable[[str], None] = print) -> tuple[TrainConfig, FitPlan | None]:
    """Settle the choices the config leaves open (batch_size/grad_accum 0, gradient_checkpointing,
    zero_stage, offloads and compile None/-1). On CUDA they come from the fit plan for this model
    and the free GPU memory; on CPU micro batch 4, no checkpointing, no compile."""
    tokens = cfg.tokens_per_step or max(cfg.batch_size, 1) * max(cfg.grad_accum, 1) * mcfg.block_size * world
    if device.type != "cuda":
        micro = cfg.batch_size or 4
        accum = cfg.grad_accum or max(1, -(-tokens // (micro * mcfg.block_size * world)))
        return replace(cfg, batch_size=micro, grad_accum=accum, gradient_checkpointing=bool(cfg.gradient_checkpointing),
                       compile=bool(cfg.compile)), None
    free, total = torch.cuda.mem_get_info(device)
    plan = plan_fit(mcfg, free, tokens, world, pinned_choices(cfg))
    accum = cfg.grad_accum if (cfg.batch_size and cfg.grad_accum) else plan.grad_accum
    compile_ = cfg.compile if cfg.compile is not None else plan.zero_stage < 3
    say(f"{plan.describe()}; GPU free {free / GIB:.1f} of {total / GIB:.1f} GiB")
    return replace(cfg, batch_size=plan.micro_batch, grad_accum=accum, gradient_checkpointing=plan.gradient_checkpointing,
                   zero_stage=plan.zero_stage, offload_optimizer=plan.offload_optimizer,
                   offload_param=plan.offload_param, compile=compile_), plan


def needs_engine(cfg: TrainConfig, device: torch.device, world: int) -> bool:
    """Whether a run started by the DeepSpeed launcher needs DeepSpeed's engine. One GPU without
    ZeRO or offload gains nothing from it but a bf16 optimizer wrapper, so that process trains on
    the plain path (autocast, fused AdamW, torch.compile). On CPU the engine is kept (gloo), as the
    launcher is only used there to test it."""
    return device.type == "cpu" or world > 1 or cfg.zero_stage > 0 or bool(cfg.offload_optimizer) or bool(cfg.offload_param)


def deepspeed_config(cfg: TrainConfig, device: torch.device, bf16: bool) -> dict:
    """The DeepSpeed JSON with the run's batch, clipping, precision, ZeRO stage and offloads.
    Without optimizer offload, DeepSpeed wraps PyTorch's fused AdamW (no op to JIT-compile);
    with it, DeepSpeed's CPU Adam (JIT-compiled once into TORCH_EXTENSIONS_DIR)."""
    ds = json.loads(Path(cfg.deepspeed_config).read_text())
    ds.update(train_micro_batch_size_per_gpu=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
              gradient_clipping=cfg.grad_clip, steps_per_print=10**9)
    ds.pop("train_batch_size", None)
    ds.pop("gradient_checkpointing", None)  # a model setting here, not a DeepSpeed key
    ds["bf16"] = {"enabled": bf16}
    zero = ds.setdefault("zero_optimization", {})
    if cfg.zero_stage >= 0:
        zero["stage"] = cfg.zero_stage
    if cfg.offload_optimizer is not None:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True} if cfg.offload_optimizer else {"device": "none"}
    if cfg.offload_param is not None:
        zero["offload_param"] = {"device": "cpu", "pin_memory": True} if cfg.offload_param else {"device": "none"}
    if zero.get("stage", 0) < 3:
        zero.pop("offload_param", None)
    offload = zero.get("offload_optimizer", {}).get("device", "none") == "cpu"
    if device.type == "cpu":  # no CPU offload / pinned memory without a GPU
        zero["offload_optimizer"] = {"device": "none"}
        zero.pop("offload_param", None)
        offload = False
    if offload:
        ds["optimizer"] = {"type": "AdamW", "params": {"lr": cfg.lr, "betas": [cfg.beta1, cfg.beta2],
                                                        "weight_decay": cfg.weight_decay}}
    else:  # the torch AdamW the caller passes in (fused on CUDA)
        ds.pop("optimizer", None)
        ds["zero_allow_untested_optimizer"] = True
    return ds


def init_deepspeed(cfg: TrainConfig, model: GPT, device: torch.device, bf16: bool,
                   say: Callable[[str], None] = print):
    """deepspeed.initialize with the run's config: (engine, optimizer, ds_config). Shared by the
    trainer and benchmarks/bench_train.py."""
    os.environ.update(launch.deepspeed_env())
    import deepspeed

    deepspeed.init_distributed(dist_backend="nccl" if device.type == "cuda" else "gloo")
    ds_cfg = deepspeed_config(cfg, device, bf16)
    client = None if "optimizer" in ds_cfg else make_adamw(model, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2))
    if client is None and device.type == "cuda":
        say(f"DeepSpeed CPU Adam JIT-compiles on first use (a few minutes, once) into {os.environ['TORCH_EXTENSIONS_DIR']}")
    engine, optimizer, _, _ = deepspeed.initialize(
        model=model, optimizer=client, config=ds_cfg,
        model_parameters=param_groups(model, cfg.weight_decay) if client is None else None)
    return engine, optimizer, ds_cfg


def micro_step(model: GPT, engine, x: torch.Tensor, y: torch.Tensor, grad_accum: int, autocast) -> torch.Tensor:
    """Forward and backward of one micro-batch; returns its unscaled loss. Under DeepSpeed the engine
    scales the loss and steps the optimizer at the accumulation boundary itself; in plain PyTorch
    the gradient is scaled by 1/grad_accum and the optimizer step is the caller's."""
    if engine is not None:
        _, loss = engine(x, y)
        engine.backward(loss)
        engine.step()
        return loss
    with autocast:
        _, loss = model(x, y)
    (loss / grad_accum).backward()
    return loss


def optimizer_step(model: GPT, optimizer, engine, grad_clip: float) -> torch.Tensor | None:
    """After the micro-batches of one step: clip, step and zero the gradients on the plain path
    and return the grad norm (a device tensor: no host sync). Under DeepSpeed engine.step() in
    micro_step did all of it at the accumulation boundary, so this returns None."""
    if engine is not None:
        return None
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return grad_norm


class RunExists(UserError):
    """The run directory holds a run that would be replaced; nothing was changed."""


def archive_run(run_dir: Path) -> Path:
    """Move a run directory aside (<name>.archived-<time>) and leave an empty one in its place."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    dest = run_dir.with_name(f"{run_dir.name}.archived-{stamp}")
    n = 1
    while dest.exists():
        n += 1
        dest = run_dir.with_name(f"{run_dir.name}.archived-{stamp}-{n}")
    os.rename(run_dir, dest)
    run_dir.mkdir()
    return dest


def prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool, say: Callable[[str], None],
                    archive: bool = True) -> bool:
    """Decide whether to resume. A finished run (summary.json says finished), or checkpoints with
    resume off, is never deleted implicitly: without `overwrite` this raises RunExists before
    anything is touched; with it the old run is archived next to the new one. Returns `resume`."""
    summary_path = run_dir / SUMMARY
    has_run = bool(checkpoint.step_dirs(run_dir)) or (run_dir / "best").exists() or summary_path.exists()
    if not has_run:
        return resume
    try:
        finished = bool(json.loads(summary_path.read_text()).get("finished")) if summary_path.exists() else False
    except (OSError, ValueError, AttributeError):
        finished = False  # an unreadable summary: the checkpoints decide
    if resume and not finished:
        return True
    if not overwrite:
        why = "holds a finished run" if finished else "holds checkpoints of an earlier run and resume is off"
        raise RunExists(f"{run_dir} {why}; nothing was changed. Pass --overwrite to archive it and start over, "
                        "or --out-dir NEW_DIR for a new run")
    if archive:
        say(f"{run_dir} {'holds a finished run' if finished else 'holds an earlier run'}; "
            f"archived it to {archive_run(run_dir)} and starting a new one")
    return False


def _quiet(_msg: str) -> None:
    """The log of every rank but 0."""


class _Run:
    """One training run, built in the order train() calls its steps: setup (data, config fit),
    model (run directory, resume, optimizer or DeepSpeed engine), describe, then fit (the loop)."""

    def __init__(self, cfg: TrainConfig, tokens_dir: str | Path, run_dir: str | Path, log: Callable[[str], None]):
        """Everything that can reject the data or config runs here, before the run directory is touched."""
        self.run_dir = Path(run_dir)
        self.rank, self.world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        self.main = self.rank == 0
        self.say = log if self.main else _quiet
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = _device(cfg, int(os.environ.get("LOCAL_RANK", 0)))
        self.bf16 = _use_bf16(cfg, self.device)
        meta = read_meta(tokens_dir)
        self.train_tokens, self.val_tokens = load_streams(tokens_dir)
        self.mcfg: GPTConfig = cfg.model_config(meta["vocab_size"])
        self.cfg, self.plan = fit_to_machine(cfg, self.mcfg, self.device, self.world, self.say)
        block = self.mcfg.block_size
        self.sampler = EpochSampler(self.train_tokens, block, cfg.seed, self.rank, self.world, name=f"{tokens_dir}/train.bin")
        self.vbatches = val_batches(self.val_tokens, block, self.cfg.batch_size, cfg.eval_batches, name=f"{tokens_dir}/val.bin")
        self.st = {"step": 0, "tokens": 0, "best_val": math.inf, "best_step": None, "bad_evals": 0, "elapsed_s": 0.0}
        self.overhead = {"eval_s": 0.0, "checkpoint_s": 0.0}
        self.engine, self.zero_stage, self.found = None, 0, None

    def build_model(self, resume: bool, overwrite: bool, use_deepspeed: bool) -> None:
        """Prepare the run directory, build the model, resume it from the newest valid checkpoint,
        then the optimizer (plain AdamW or the DeepSpeed engine)."""
        cfg = self.cfg
        engine_needed = use_deepspeed and needs_engine(cfg, self.device, self.world)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        resume = prepare_run_dir(self.run_dir, resume, overwrite, self.say, archive=self.main)
        torch.manual_seed(cfg.seed + self.rank)
        self.model = GPT(self.mcfg)
        self.model.gradient_checkpointing = cfg.gradient_checkpointing
        self.found = checkpoint.find_latest_valid(self.run_dir, self.say) if resume else None
        opt_state = self.restore() if self.found else None
        self.model.to(self.device)
        if use_deepspeed and not engine_needed:
            self.say("one GPU, no ZeRO, no offload: training on the plain PyTorch path inside the launcher")
        if cfg.compile and not (engine_needed and cfg.zero_stage >= 3):
            self.say("torch.compile: the first steps compile the model (a minute or two; cached by inductor)")
            self.model.compile()  # in place: state_dict keys and checkpoints are unchanged
        if engine_needed:
            self.start_engine()
        else:
            self.optimizer = make_adamw(self.model, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2))
            if opt_state is not None:
                self.optimizer.load_state_dict(opt_state)
        if self.found:
            checkpoint.load_rng(self.found[0])  # last: everything above may draw random numbers

    def restore(self) -> dict | None:
        """Weights, data position and counters from the checkpoint found; returns its optimizer state."""
        ckpt, saved = self.found
        _load_weights(self.model, ckpt)
        opt_state = checkpoint.load_optimizer_state(ckpt, saved)
        self.sampler.load_state(saved["sampler"])
        self.st.update({k: saved[k] for k in self.st})
        self.st["best_val"] = math.inf if saved["best_val"] is None else saved["best_val"]
        self.say(f"resumed from {ckpt} at step {self.st['step']} (epoch {self.sampler.epoch}, window {self.sampler.index})")
        return opt_state

    def start_engine(self) -> None:
        self.engine, self.optimizer, ds_cfg = init_deepspeed(self.cfg, self.model, self.device, self.bf16, self.say)
        self.zero_stage = ds_cfg.get("zero_optimization", {}).get("stage", 0)
        if self.found:
            self.say("DeepSpeed: weights, schedule, data position and RNG restored; Adam moments restart "
                     "(DeepSpeed's own optimizer checkpoints need unpickling, which this project never does)")
        self.say(f"DeepSpeed ZeRO stage {self.zero_stage}, bf16={self.bf16}, world {self.world}, "
                 f"offload={ds_cfg['zero_optimization'].get('offload_optimizer', {}).get('device', 'none')}")

    def describe(self) -> None:
        """The run's figures (parameters, FLOPs, baseline), said once; the CSV log and autocast."""
        cfg, mcfg, say = self.cfg, self.mcfg, self.say
        self.n_params = mcfg.num_params()  # from the shape: ZeRO-3 leaves partitioned (empty) tensors on each rank
        self.flops_tok = mcfg.flops_per_token()
        self.peak, self.peak_src = peak_flops(self.device, cfg.peak_flops)
        self.tokens_per_step = cfg.batch_size * cfg.grad_accum * mcfg.block_size * self.world
        self.baseline = unigram_baseline(self.train_tokens, self.val_tokens, mcfg.vocab_size)
        say(f"model {cfg.model}: {self.n_params / 1e6:.2f}M parameters ({mcfg.n_layer}x{mcfg.n_embd}, {mcfg.n_head} heads, "
            f"context {mcfg.block_size}, vocab {mcfg.vocab_size}); {self.flops_tok / 1e6:.1f} MFLOP/token")
        say(f"data: {len(self.train_tokens):,} train / {len(self.val_tokens):,} val tokens, {self.sampler.windows_per_epoch} "
            f"windows/epoch, {self.tokens_per_step:,} tokens/step; unigram baseline val loss {self.baseline:.4f}")
        say(f"device {self.device}, bf16={self.bf16}, threads {torch.get_num_threads()}, "
            f"peak {self.peak / 1e12:.3f} TFLOP/s ({self.peak_src})")
        self.csv_log = CsvLog(self.run_dir / LOG_CSV, self.st["step"] if self.found else None) if self.main else None
        use_autocast = self.bf16 and self.engine is None
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if use_autocast else nullcontext()
        self.net = self.engine if self.engine is not None else self.model

    def fit(self) -> dict:
        """The loop: optimizer steps until max_steps, the time budget, early stopping or a signal."""
        cfg, st, stop = self.cfg, self.st, _Stop()
        reason = "max_steps"
        self.net.train()
        self.t_log, self.tok_log = time.time(), 0
        t_seg, self.elapsed0 = time.time(), st["elapsed_s"]
        while st["step"] < cfg.max_steps:
            lr = lr_at(st["step"], cfg.lr, cfg.warmup_steps, cfg.max_steps, cfg.min_lr_ratio)
            loss_acc, grad_norm_t = self.train_step(lr)
            st["step"] += 1
            st["tokens"] += self.tokens_per_step
            self.tok_log += self.tokens_per_step
            st["elapsed_s"] = self.elapsed0 + time.time() - t_seg
            step = st["step"]
            last = step >= cfg.max_steps or self.over_time() or stop.signal
            if self.log_evaluate_checkpoint(step, lr, loss_acc, grad_norm_t, last):
                reason, last = f"early stopping: no val improvement in {cfg.patience} evaluations", True
            if last:
                if stop.signal:
                    reason = f"signal {signal.Signals(stop.signal).name}"
                elif self.over_time() and step < cfg.max_steps:
                    reason = f"time budget {cfg.max_seconds:.0f}s"
                break
        return self.finish(reason, finished=stop.signal is None)

    def over_time(self) -> bool:
        return bool(self.cfg.max_seconds and self.st["elapsed_s"] >= self.cfg.max_seconds)

    def train_step(self, lr: float) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One optimizer step over grad_accum micro-batches. Returns the mean loss and (plain path)
        the grad norm as device tensors: no host sync per step."""
        cfg, device = self.cfg, self.device
        set_lr(self.optimizer, lr)
        loss_acc = torch.zeros((), device=device)  # summed on the device: no host sync per micro step
        for _ in range(cfg.grad_accum):
            x, y = self.sampler.next_batch(cfg.batch_size)
            if device.type == "cuda":
                x, y = x.pin_memory(), y.pin_memory()
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = micro_step(self.model, self.engine, x, y, cfg.grad_accum, self.autocast)
            loss_acc += loss.detach() / cfg.grad_accum
        return loss_acc, optimizer_step(self.model, self.optimizer, self.engine, cfg.grad_clip)

    def log_evaluate_checkpoint(self, step: int, lr: float, loss_acc: torch.Tensor, grad_norm_t, last) -> bool:
        """Log, evaluate and checkpoint as the intervals say (all at the last step). Returns True
        when early stopping ends the run. Evaluation and checkpoints are kept out of tokens/s."""
        cfg, st = self.cfg, self.st
        log_now, eval_now = step % cfg.log_interval == 0 or last, step % cfg.eval_interval == 0 or last
        row, loss_sum, early = None, None, False
        if log_now or eval_now:  # the only host syncs: read the loss (and grad norm) here
            loss_sum, grad_norm = self.read_loss(step, loss_acc, grad_norm_t)
        if log_now:
            row = self.speed_row(step, lr, loss_sum, grad_norm)
        t_pause = time.time()
        if eval_now:
            row = row or {"step": step, "tokens": st["tokens"], "train_loss": loss_sum, "lr": lr, "elapsed_s": st["elapsed_s"]}
            row["val_loss"], early = self.evaluate_and_keep_best(step, t_pause)
        if row is not None and self.main:
            self.write_row(row, loss_sum, lr)
        if step % cfg.checkpoint_interval == 0 or last or early:
            self.timed_save(f"step_{step}")
        self.t_log += time.time() - t_pause
        return early

    def read_loss(self, step: int, loss_acc: torch.Tensor, grad_norm_t) -> tuple[float, float]:
        loss_sum = float(loss_acc)
        if not math.isfinite(loss_sum):
            raise FloatingPointError(f"train loss is {loss_sum} at step {step}; lower lr or check the data")
        if self.engine is None:
            return loss_sum, float(grad_norm_t)
        gn = self.engine.get_global_grad_norm()
        return loss_sum, float(gn) if gn is not None else float("nan")

    def speed_row(self, step: int, lr: float, loss_sum: float, grad_norm: float) -> dict:
        """A log row with tokens/s, GFLOP/s and MFU since the last log row; restarts that window."""
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        tps = self.tok_log / max(time.time() - self.t_log, 1e-9)
        mem, temp = gpu_reading(self.device)
        sampler, st = self.sampler, self.st
        row = {"step": step, "tokens": st["tokens"], "epoch": round(sampler.epoch + sampler.index / max(sampler.windows_per_epoch, 1), 3),
               "train_loss": loss_sum, "lr": lr, "grad_norm": grad_norm, "tokens_per_s": tps,
               "gflops_per_s": tps * self.flops_tok / 1e9, "mfu": tps * self.flops_tok / self.peak if self.peak else None,
               "elapsed_s": st["elapsed_s"], "gpu_mem_gb": mem, "gpu_temp_c": temp}
        self.t_log, self.tok_log = time.time(), 0
        return row

    def evaluate_and_keep_best(self, step: int, t_pause: float) -> tuple[float, bool]:
        """Validation loss; a new best is checkpointed to best/. Returns (val loss, patience ran out)."""
        st = self.st
        val = self.evaluate()
        self.overhead["eval_s"] += time.time() - t_pause
        if val < st["best_val"]:
            st.update(best_val=val, best_step=step, bad_evals=0)
            self.timed_save("best")
        else:
            st["bad_evals"] += 1
        return val, bool(self.cfg.patience and st["bad_evals"] >= self.cfg.patience)

    @torch.no_grad()
    def evaluate(self) -> float:
        self.net.eval()
        losses = []
        for x, y in self.vbatches:
            with self.autocast:
                _, loss = self.net(x.to(self.device), y.to(self.device))
            losses.append(loss.item())
        self.net.train()
        return sum(losses) / len(losses)

    def write_row(self, row: dict, loss_sum: float, lr: float) -> None:
        self.csv_log.write(row)
        extra = f" val {row['val_loss']:.4f}" if row.get("val_loss") is not None else ""
        speed = f" | {row['tokens_per_s']:,.0f} tok/s" if "tokens_per_s" in row else ""
        mfu = f" | MFU {row['mfu']:.1%}" if row.get("mfu") else ""
        self.say(f"step {row['step']}/{self.cfg.max_steps} | loss {loss_sum:.4f}{extra} | lr {lr:.2e}{speed}{mfu}")

    def full_weights(self) -> GPT:
        """The whole model on rank 0 (gathered from the engine under DeepSpeed; collective under ZeRO-3)."""
        if self.engine is None:
            return self.model
        if self.zero_stage == 3:
            sd = self.engine._zero3_consolidated_16bit_state_dict()
        else:
            sd = self.engine.module.state_dict()
        out = GPT(self.mcfg)
        if self.main:
            out.load_state_dict({k: v.float().cpu() for k, v in sd.items()}, strict=False)
        return out

    def save(self, name: str) -> None:
        weights = self.full_weights()  # collective under ZeRO-3: every rank calls it
        if not self.main:
            return
        st = self.st
        state = {**st, "best_val": None if math.isinf(st["best_val"]) else st["best_val"],
                 "sampler": self.sampler.state(), "config": self.cfg.to_dict(), "model_config": self.mcfg.to_dict()}
        opt_state = self.optimizer.state_dict() if self.engine is None else None
        checkpoint.save_checkpoint(self.run_dir / name, weights, opt_state, state)
        if name.startswith("step_"):
            checkpoint.rotate(self.run_dir, self.cfg.keep_last)

    def timed_save(self, name: str) -> None:
        t0 = time.time()
        self.save(name)
        dt = time.time() - t0
        self.overhead["checkpoint_s"] += dt
        if dt > 10 or self.zero_stage == 3:
            self.say(f"checkpoint {name} written in {dt:.1f} s")

    def finish(self, reason: str, finished: bool) -> dict:
        """The summary (written to summary.json by rank 0) and the closing lines."""
        st, cfg, overhead, engine = self.st, self.cfg, self.overhead, self.engine
        summary = {
            "finished": finished, "stop_reason": reason, "steps": st["step"], "tokens": st["tokens"],
            "best_val_loss": None if math.isinf(st["best_val"]) else st["best_val"], "best_step": st["best_step"],
            "unigram_val_loss": self.baseline, "parameters": self.n_params, "flops_per_token": self.flops_tok,
            "peak_flops": self.peak, "peak_source": self.peak_src, "device": str(self.device), "bf16": self.bf16,
            "world_size": self.world, "deepspeed": engine is not None, "elapsed_s": st["elapsed_s"],
            "model_config": self.mcfg.to_dict(), "config": cfg.to_dict(), "train_tokens": len(self.train_tokens),
            "val_tokens": len(self.val_tokens), "fit_plan": self.plan.to_dict() if self.plan else None,
            "zero_stage": self.zero_stage if engine is not None else None, "compiled": bool(cfg.compile),
            "eval_s": overhead["eval_s"], "checkpoint_s": overhead["checkpoint_s"],
        }
        if self.main:
            (self.run_dir / SUMMARY).write_text(json.dumps(summary, indent=2))
            share = (overhead["eval_s"] + overhead["checkpoint_s"]) / max(st["elapsed_s"] - self.elapsed0, 1e-9)
            self.say(f"evaluation {overhead['eval_s']:.1f} s + checkpoints {overhead['checkpoint_s']:.1f} s = "
                     f"{share:.1%} of this segment's wall time")
            self.say(f"stopped ({reason}) at step {st['step']}; best val {summary['best_val_loss']} at step "
                     f"{st['best_step']} (unigram baseline {self.baseline:.4f}); checkpoints in {self.run_dir}")
        return summary


def train(cfg: TrainConfig, tokens_dir: str | Path, run_dir: str | Path, resume: bool = True,
          use_deepspeed: bool = False, log: Callable[[str], None] = print, overwrite: bool = False) -> dict:
    """Train; returns the summary (also written to run_dir/summary.json). A run directory holding
    a finished run is kept unless `overwrite` (which archives it, see prepare_run_dir)."""
    run = _Run(cfg, tokens_dir, run_dir, log)
    run.build_model(resume, overwrite, use_deepspeed)
    run.describe()
    return run.fit()
