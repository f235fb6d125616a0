"""A transformers chat model (SmolLM2-135M-Instruct before and after LoRA) in PyTorch.

Decoding is a plain loop over the KV cache (so each token reaches on_token as it is made), with
runtime.sampling's next-token rule. The messages go through the tokenizer's own chat template.
"""

from __future__ import annotations

import time

from alslm_ml.runtime.base import Completion, GenerationConfig, Runtime, TokenCallback
from alslm_ml.runtime.sampling import next_token


def chat_generate(model, tok, messages: list[dict], cfg: GenerationConfig,
                  on_token: TokenCallback | None = None) -> Completion:
    """The model's answer to `messages`, streamed; the text is stripped of surrounding space."""
    import torch

    t0 = time.perf_counter()
    prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    dev = next(model.parameters()).device
    ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]], device=dev)
    stop = {tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")} - {None}
    gen = torch.Generator().manual_seed(cfg.seed)
    seen = ids[0].cpu()
    out_ids: list[int] = []
    text, first, past, step_in = "", None, None, ids
    with torch.no_grad():
        for _ in range(cfg.max_tokens):
            res = model(input_ids=step_in, past_key_values=past, use_cache=True)
            past = res.past_key_values
            nxt = next_token(res.logits[0, -1].cpu(), seen, cfg, gen)
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
    return Completion(text.strip(), int(ids.shape[1]), len(out_ids), time.perf_counter() - t0, first)


class HFChat(Runtime):
    """A loaded (model, tokenizer) pair; `origin` says where the weights came from."""

    name = "transformers"

    def __init__(self, model, tok, origin: str):
        self.model, self.tok, self.origin = model, tok, origin
        self.n_ctx = int(getattr(model.config, "max_position_embeddings", 0) or 0)

    def chat(self, messages: list[dict], cfg: GenerationConfig, on_token: TokenCallback | None = None) -> Completion:
        return chat_generate(self.model, self.tok, messages, cfg, on_token)

    def count_tokens(self, text: str) -> int:
        return len(self.tok(text, add_special_tokens=False)["input_ids"])

    def describe(self) -> dict:
        param = next(self.model.parameters())
        return {"model": self.origin, "backend": self.name, "device": str(param.device), "dtype": str(param.dtype)}

    def close(self) -> None:
        self.model = None
