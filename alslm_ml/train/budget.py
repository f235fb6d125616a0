"""Parameter count, FLOPs per token and a training-memory estimate for a config (docs/model.md).

Memory per parameter with mixed-precision Adam: bf16 weights 2 B + bf16 grads 2 B on the GPU;
fp32 master weights 4 B + Adam m and v 8 B = 12 B wherever the optimizer lives (GPU, or host RAM
with ZeRO-2 optimizer offload). Activations are estimated after Korthikanti et al. 2022
(34·s·b·d + 5·a·s²·b bytes per layer in 16-bit, without flash attention), or one layer input
(2·s·b·d bytes per layer) with gradient checkpointing — a rough guide, not a measurement.
"""

from __future__ import annotations

from alslm_ml.model import GPTConfig
from alslm_ml.train.config import TrainConfig


def activation_bytes(c: GPTConfig, micro_batch: int, checkpointing: bool) -> float:
    s, b, d, a, L = c.block_size, micro_batch, c.n_embd, c.n_head, c.n_layer
    logits = 4 * s * b * c.vocab_size  # fp32 logits for the loss
    if checkpointing:
        return L * 2 * s * b * d + (34 * s * b * d + 5 * a * s * s * b) + logits
    return L * (34 * s * b * d + 5 * a * s * s * b) + logits


def describe(cfg: TrainConfig) -> str:
    c = cfg.model_config()
    n = c.num_params()
    d, L = c.n_embd, c.n_layer
    blocks = L * 12 * d * d
    flops = 6 * (n - c.block_size * d) + 12 * L * d * c.block_size  # = GPT.flops_per_token
    act = activation_bytes(c, cfg.batch_size, cfg.gradient_checkpointing) / 2**30
    gib = 2**30
    lines = [
        f"config {cfg.model}: {L} layers x {d} wide, {c.n_head} heads of {d // c.n_head}, context {c.block_size}, vocab {c.vocab_size}",
        f"parameters: {n:,} ({n / 1e6:.1f}M) = blocks {L} x 12·{d}² = {blocks / 1e6:.1f}M (+ biases/LayerNorms "
        f"{(n - blocks - c.vocab_size * d - c.block_size * d) / 1e6:.2f}M) + token embedding {c.vocab_size * d / 1e6:.1f}M "
        f"(tied head) + positions {c.block_size * d / 1e6:.2f}M",
        f"training FLOPs/token: {flops / 1e9:.2f} GFLOP (6N + 12·L·d·T)",
        f"memory (GiB): bf16 weights {2 * n / gib:.1f} + bf16 grads {2 * n / gib:.1f} + fp32 master+Adam {12 * n / gib:.1f} "
        f"+ activations ~{act:.1f} (micro batch {cfg.batch_size}, checkpointing={cfg.gradient_checkpointing})",
        f"  no offload: GPU ~{(16 * n) / gib + act:.1f}; ZeRO-2 optimizer offload: GPU ~{4 * n / gib + act:.1f}, host RAM ~{12 * n / gib:.1f}",
    ]
    return "\n".join(lines)
