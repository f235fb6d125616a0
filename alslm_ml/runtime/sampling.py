"""The next-token rule of the torch decoding loops (the from-scratch GPT and the transformers chat
models), matching llama.cpp's order: repetition penalty, then greedy at temperature 0, else top-k,
temperature, top-p, and a draw from a generator seeded by the caller."""

from __future__ import annotations

from alslm_ml.runtime.base import GenerationConfig


def next_token(logits, seen, cfg: GenerationConfig, gen) -> int:
    """One token id from a 1-D logits tensor; `seen` (a tensor of ids) gets the repetition penalty."""
    import torch

    logits = logits.float().clone()
    if cfg.repeat_penalty and cfg.repeat_penalty != 1.0:
        prev = logits[seen]
        logits[seen] = torch.where(prev > 0, prev / cfg.repeat_penalty, prev * cfg.repeat_penalty)
    if cfg.temperature <= 0:
        return int(logits.argmax())
    if cfg.top_k and cfg.top_k > 0:
        kth = torch.topk(logits, min(cfg.top_k, logits.numel())).values[-1]
        logits[logits < kth] = float("-inf")
    probs = torch.softmax(logits / cfg.temperature, dim=-1)
    if 0 < cfg.top_p < 1:
        sorted_p, order = probs.sort(descending=True)
        drop = sorted_p.cumsum(0) - sorted_p > cfg.top_p  # keep the smallest set reaching top_p
        sorted_p[drop] = 0
        probs = torch.zeros_like(probs).scatter(0, order, sorted_p)
    return int(torch.multinomial(probs / probs.sum(), 1, generator=gen))
