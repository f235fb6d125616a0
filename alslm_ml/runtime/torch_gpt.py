"""The from-scratch GPT checkpoint (alslm_ml.model) in PyTorch with its own tokenizer: raw
completion, no quantization. The slowest runtime, kept for debugging and as the reference the GGUF
files are checked against (greedy decoding gives the same text)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from alslm_ml.runtime.base import Completion, GenerationConfig, Runtime, TokenCallback, stream_completion
from alslm_ml.runtime.sampling import next_token

END_OF_TEXT = "<|eos|>"
REPEAT_WINDOW = 64  # llama.cpp's default repeat_last_n


class TorchGPT(Runtime):
    name = "torch"

    def __init__(self, model_dir: str | Path, tokenizer_path: str | Path):
        import torch
        from tokenizers import Tokenizer

        from alslm_ml.model import load_model

        self.torch = torch
        self.model_dir = Path(model_dir)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        t0 = time.perf_counter()
        self.model = load_model(model_dir).to(self.device)
        try:
            self.tok = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # noqa: BLE001 - tokenizers raises a bare Exception on bad JSON
            raise ValueError(f"{tokenizer_path}: not a valid tokenizer file ({exc}); "
                             "materialize the `tokenizer` asset again") from None
        self.load_seconds = time.perf_counter() - t0
        self.n_ctx = self.model.config.block_size
        self.eos_id = self.tok.token_to_id(END_OF_TEXT)
        if self.eos_id is None:
            raise ValueError(f"{tokenizer_path}: no {END_OF_TEXT} token")

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def truncate(self, text: str, max_tokens: int) -> str:
        ids = self.encode(text)
        return text if len(ids) <= max_tokens else self.tok.decode(ids[:max_tokens], skip_special_tokens=True)

    def complete(self, prompt: str, cfg: GenerationConfig, on_token: TokenCallback | None = None,
                 stop: str | None = None) -> Completion:
        ids = [self.eos_id] + self.encode(prompt)  # end-of-text first: a new document begins
        out: list[int] = []
        done = stream_completion(self._pieces(ids, out, cfg), on_token, stop)
        done.prompt_tokens, done.completion_tokens = len(ids), len(out)
        return done

    def _pieces(self, ids: list[int], out: list[int], cfg: GenerationConfig) -> Iterator[str]:
        torch = self.torch
        budget = min(cfg.max_tokens, self.n_ctx - len(ids))
        gen = torch.Generator().manual_seed(cfg.seed)
        shown = ""
        for _ in range(max(budget, 0)):
            seq = ids + out
            with torch.no_grad():
                logits, _ = self.model(torch.tensor([seq[-self.n_ctx :]], device=self.device))
            # sampling on the CPU: the same draws on any device
            tok = next_token(logits[0, -1].cpu(), torch.tensor(sorted(set(seq[-REPEAT_WINDOW:]))), cfg, gen)
            if tok == self.eos_id:
                break
            out.append(tok)
            text = self.tok.decode(out, skip_special_tokens=True)  # the whole tail: merges bytes split across tokens
            if text.endswith("\ufffd"):
                continue
            yield text[len(shown):]
            shown = text

    def describe(self) -> dict:
        return {"backend": self.name, "model_dir": str(self.model_dir), "n_ctx": self.n_ctx, "device": str(self.device)}
