"""GPT-2 in one file, after nanoGPT: pre-norm LayerNorm, learned positions, GELU (tanh) MLP 4x,
tied embeddings, dropout, causal attention through scaled_dot_product_attention.

The layout (biases everywhere, tanh GELU, LayerNorm eps 1e-5) is exactly GPT-2's, so the weights
map one-to-one onto transformers' GPT2LMHeadModel and llama.cpp's gpt2 architecture.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


@dataclass
class GPTConfig:
    vocab_size: int = 16384
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")

    def to_dict(self) -> dict:
        return asdict(self)

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameter count from the shape alone (tied head counted once)."""
        d, L, V, T = self.n_embd, self.n_layer, self.vocab_size, self.block_size
        per_block = (2 * d) + (d * 3 * d + 3 * d) + (d * d + d) + (2 * d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
        total = V * d + T * d + L * per_block + 2 * d
        return total - (T * d if non_embedding else 0)

    def flops_per_token(self) -> float:
        """Training FLOPs per token (6N + attention), as in the PaLM appendix / nanoGPT. From the
        shape alone, so it holds when ZeRO-3 has partitioned the parameters away."""
        return 6 * self.num_params(non_embedding=True) + 12 * self.n_layer * self.n_embd * self.block_size


# Named configs. Parameter arithmetic is in docs/model.md; `alslm_ml.model.gpt` prints the counts.
#   500m: 24 layers x 1280 wide (20 heads of 64): 24 * 12 * 1280^2 = 472M in blocks + 21M embeddings.
#   1b:   36 layers x 1536 wide (24 heads of 64): 36 * 12 * 1536^2 = 1.02B in blocks + 27M embeddings.
# The widths are multiples of 256 so llama.cpp's K-quants apply to every matrix.
CONFIGS: dict[str, GPTConfig] = {
    "tiny": GPTConfig(vocab_size=8192, block_size=256, n_layer=4, n_head=4, n_embd=256, dropout=0.1),
    "500m": GPTConfig(vocab_size=16384, block_size=1024, n_layer=24, n_head=20, n_embd=1280, dropout=0.1),
    "1b": GPTConfig(vocab_size=16384, block_size=1024, n_layer=36, n_head=24, n_embd=1536, dropout=0.1),
}


def get_config(name: str, **overrides) -> GPTConfig:
    if name not in CONFIGS:
        raise ValueError(f"unknown model config {name!r}; choose one of {sorted(CONFIGS)}")
    return GPTConfig(**{**CONFIGS[name].to_dict(), **overrides})


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.dropout = cfg.dropout
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, eps=1e-5)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, eps=1e-5)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.config = cfg
        self.gradient_checkpointing = False
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(cfg.vocab_size, cfg.n_embd),
                wpe=nn.Embedding(cfg.block_size, cfg.n_embd),
                drop=nn.Dropout(cfg.dropout),
                h=nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer)),
                ln_f=nn.LayerNorm(cfg.n_embd, eps=1e-5),
            )
        )
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())  # tied weights are one Parameter

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits for every position; with targets, also the mean cross-entropy (ignore_index -1)."""
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(f"sequence of {T} tokens exceeds block_size {self.config.block_size}")
        pos = torch.arange(T, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            if self.gradient_checkpointing and self.training:
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.view(-1), ignore_index=-1)
        return logits, loss

    def flops_per_token(self) -> float:
        return self.config.flops_per_token()

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        eos_id: int | None = None,
    ):
        """Yield one new token id at a time (temperature 0 = greedy). idx is (1, T)."""
        for _ in range(max_new_tokens):
            ctx = idx[:, -self.config.block_size :]
            logits, _ = self(ctx)
            logits = logits[:, -1, :].float()
            if temperature <= 0:
                nxt = logits.argmax(dim=-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k:
                    v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                    logits[logits < v[:, [-1]]] = -float("inf")
                if top_p and top_p < 1.0:
                    sorted_logits, order = torch.sort(logits, descending=True)
                    cum = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
                    drop = cum - torch.softmax(sorted_logits, dim=-1) > top_p
                    sorted_logits[drop] = -float("inf")
                    logits = torch.full_like(logits, -float("inf")).scatter(1, order, sorted_logits)
                nxt = torch.multinomial(torch.softmax(logits, dim=-1), num_samples=1)
            idx = torch.cat([idx, nxt], dim=1)
            token = int(nxt.item())
            yield token
            if eos_id is not None and token == eos_id:
                return


if __name__ == "__main__":
    for name, cfg in CONFIGS.items():
        print(f"{name:>5}: {cfg.n_layer} layers x {cfg.n_embd} wide, {cfg.n_head} heads, "
              f"vocab {cfg.vocab_size}, context {cfg.block_size}: {cfg.num_params() / 1e6:,.1f}M parameters")
