"""Parameter count, FLOPs per token, a training-memory estimate (docs/model.md), and the fit plan
that turns the estimate into the run's settings for the machine at hand.

Memory per parameter with mixed-precision Adam: bf16 weights 2 B + gradients 2–4 B on the GPU;
fp32 master weights 4 B + Adam m and v 8 B = 12 B wherever the optimizer lives (GPU, or host RAM
with ZeRO optimizer offload). We count 18 B per parameter on the GPU without offload (fp32
gradient accumulation included), 4 B with the optimizer offloaded. Activations follow Korthikanti
et al. 2022: 34·s·b·d bytes per layer in 16-bit, plus 5·a·s²·b for the attention matrix unless a
fused (flash / memory-efficient) SDPA kernel keeps it out of memory; with gradient checkpointing
only each layer's input (2·s·b·d) is kept, plus one layer recomputed. The logits cost 10 B per
vocabulary entry per token (bf16 logits, their fp32 copy for the loss and its gradient).
A guide for choosing settings, not a measurement: the trainer logs the real peak next to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from alslm_ml.model import GPTConfig
from alslm_ml.train.config import TrainConfig

GIB = 2**30
STATE_BYTES = 18  # per parameter on the GPU, optimizer on the GPU
STATE_BYTES_OFFLOAD = 4  # weights + gradients only; master weights and Adam moments in host RAM
MEMORY_FRACTION = 0.85  # of the free memory, the rest for the allocator's fragmentation
RESERVE_GIB = 1.5  # CUDA context, workspace, NCCL buffers
MAX_MICRO_BATCH = 64


def activation_bytes(c: GPTConfig, micro_batch: int, checkpointing: bool, fused_attention: bool = False) -> float:
    s, b, d, a, L = c.block_size, micro_batch, c.n_embd, c.n_head, c.n_layer
    layer = 34 * s * b * d + (0 if fused_attention else 5 * a * s * s * b)
    logits = 10 * s * b * c.vocab_size
    if checkpointing:
        return L * 2 * s * b * d + layer + logits
    return L * layer + logits


def state_bytes(n_params: int, zero_stage: int, offload_optimizer: bool, offload_param: bool, world: int) -> float:
    """GPU bytes for weights, gradients and optimizer state under a ZeRO stage (1/world shards)."""
    if offload_param:  # ZeRO-3 parameter offload: only the layers in flight live on the GPU
        return 2 * n_params / max(world, 1) + 0.05 * 2 * n_params
    per = STATE_BYTES_OFFLOAD if offload_optimizer else STATE_BYTES
    if zero_stage >= 3:
        return per * n_params / world
    if zero_stage >= 1 and not offload_optimizer:  # weights replicated, gradients (2) and optimizer (1) sharded
        return (2 + (per - 2) / world) * n_params
    return per * n_params


@dataclass
class FitPlan:
    micro_batch: int
    grad_accum: int
    gradient_checkpointing: bool
    zero_stage: int
    offload_optimizer: bool
    offload_param: bool
    estimate_gib: float  # GPU memory the plan needs by the estimate above
    budget_gib: float  # what the plan may use: MEMORY_FRACTION x free memory - RESERVE_GIB
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        switches = [name for name, on in (("activation checkpointing", self.gradient_checkpointing),
                                         ("optimizer offload", self.offload_optimizer),
                                         ("parameter offload", self.offload_param)) if on]
        return (f"fit plan: micro batch {self.micro_batch} x accum {self.grad_accum}, ZeRO-{self.zero_stage}, "
                f"{', '.join(switches) if switches else 'no checkpointing, no offload'}; estimate "
                f"{self.estimate_gib:.1f} GiB of a {self.budget_gib:.1f} GiB budget ({self.reason})")


def _layouts(world: int):
    """(checkpointing, zero_stage, offload_optimizer, offload_param), fastest first. Checkpointing
    (about a third more compute) costs less than moving the optimizer to the CPU every step."""
    dp = 0 if world == 1 else 2
    yield False, dp, False, False
    yield True, dp, False, False
    yield False, 2, True, False
    yield True, 2, True, False
    yield True, 3, True, True


def plan_fit(mcfg: GPTConfig, free_bytes: float, tokens_per_step: int, world: int = 1,
             pinned: dict | None = None, fused_attention: bool = True) -> FitPlan:
    """The fastest layout that fits: no checkpointing and no offload with the largest micro batch
    (a power of two) that fits, unless the estimate says the model only fits with checkpointing,
    then optimizer offload, then ZeRO-3 with parameter offload. `pinned` holds the choices the
    user fixed (keys micro_batch, gradient_checkpointing, zero_stage, offload_optimizer,
    offload_param): only layouts that agree with them are considered. Gradient accumulation keeps
    `tokens_per_step` (rounded up to whole micro batches)."""
    pinned = {k: v for k, v in (pinned or {}).items() if v is not None}
    n = mcfg.num_params()
    budget = MEMORY_FRACTION * free_bytes - RESERVE_GIB * GIB
    per_rank_seqs = max(1, tokens_per_step // (mcfg.block_size * world))
    cap = min(MAX_MICRO_BATCH, per_rank_seqs)
    want = min(4, cap)  # below this a layout is too slow to prefer over the next one
    best = None
    for ckpt, stage, off_opt, off_par in _layouts(world):
        layout = {"gradient_checkpointing": ckpt, "zero_stage": stage, "offload_optimizer": off_opt, "offload_param": off_par}
        if any(pinned.get(k, v) != v for k, v in layout.items()):
            continue
        states = state_bytes(n, stage, off_opt, off_par, world)
        sizes = [pinned["micro_batch"]] if "micro_batch" in pinned else [2**i for i in range(cap.bit_length()) if 2**i <= cap][::-1]
        for b in sizes:
            need = states + activation_bytes(mcfg, b, ckpt, fused_attention)
            if need <= budget:
                cand = (b, layout, need)
                if b >= want or "micro_batch" in pinned:
                    return _plan(cand, tokens_per_step, mcfg.block_size, world, budget, "fits")
                best = best or cand
                break
    if best is not None:
        return _plan(best, tokens_per_step, mcfg.block_size, world, budget, "fits only with a small micro batch")
    # nothing fits by the estimate: the most frugal allowed layout, micro batch 1, and say so
    ckpt, stage, off_opt, off_par = list(_layouts(world))[-1]
    layout = {"gradient_checkpointing": ckpt, "zero_stage": stage, "offload_optimizer": off_opt, "offload_param": off_par}
    layout.update({k: v for k, v in pinned.items() if k in layout})
    b = pinned.get("micro_batch", 1)
    need = state_bytes(n, layout["zero_stage"], layout["offload_optimizer"], layout["offload_param"], world) + \
        activation_bytes(mcfg, b, layout["gradient_checkpointing"], fused_attention)
    return _plan((b, layout, need), tokens_per_step, mcfg.block_size, world, budget, "does NOT fit by the estimate")


def _plan(cand, tokens_per_step: int, block: int, world: int, budget: float, reason: str) -> FitPlan:
    b, layout, need = cand
    accum = max(1, -(-tokens_per_step // (b * block * world)))
    return FitPlan(micro_batch=b, grad_accum=accum, estimate_gib=need / GIB, budget_gib=budget / GIB,
                   reason=reason, **layout)


def describe(cfg: TrainConfig) -> str:
    c = cfg.model_config()
    n = c.num_params()
    d, L = c.n_embd, c.n_layer
    blocks = L * 12 * d * d
    flops = 6 * (n - c.block_size * d) + 12 * L * d * c.block_size  # = GPT.flops_per_token
    micro = cfg.batch_size or 4
    ckpt = bool(cfg.gradient_checkpointing)
    act = activation_bytes(c, micro, ckpt, fused_attention=True) / GIB
    lines = [
        f"config {cfg.model}: {L} layers x {d} wide, {c.n_head} heads of {d // c.n_head}, context {c.block_size}, vocab {c.vocab_size}",
        f"parameters: {n:,} ({n / 1e6:.1f}M) = blocks {L} x 12·{d}² = {blocks / 1e6:.1f}M (+ biases/LayerNorms "
        f"{(n - blocks - c.vocab_size * d - c.block_size * d) / 1e6:.2f}M) + token embedding {c.vocab_size * d / 1e6:.1f}M "
        f"(tied head) + positions {c.block_size * d / 1e6:.2f}M",
        f"training FLOPs/token: {flops / 1e9:.2f} GFLOP (6N + 12·L·d·T)",
        f"memory (GiB): weights+grads+fp32 master+Adam {STATE_BYTES * n / GIB:.1f} "
        f"+ activations ~{act:.1f} (micro batch {micro}, checkpointing={ckpt}, fused attention)",
        f"  no offload: GPU ~{STATE_BYTES * n / GIB + act:.1f}; ZeRO-2 optimizer offload: GPU ~{STATE_BYTES_OFFLOAD * n / GIB + act:.1f}, "
        f"host RAM ~{12 * n / GIB:.1f}",
    ]
    tps = cfg.tokens_per_step or (cfg.batch_size or 4) * (cfg.grad_accum or 1) * c.block_size
    for gib in (24, 80, 141):
        lines.append(f"  on a {gib} GB GPU: " + plan_fit(c, gib * 1e9 * 0.98, tps, pinned=pinned_choices(cfg)).describe())
    return "\n".join(lines)


def pinned_choices(cfg: TrainConfig) -> dict:
    """The fit choices the config fixes (None / 0 / -1 leave a choice to the plan)."""
    return {"micro_batch": cfg.batch_size or None, "gradient_checkpointing": cfg.gradient_checkpointing,
            "zero_stage": None if cfg.zero_stage < 0 else cfg.zero_stage,
            "offload_optimizer": cfg.offload_optimizer, "offload_param": cfg.offload_param}
