"""The from-scratch model as a System, on one of three backends:

    ollama    the registered `als-lm` model on an Ollama server (REST, /api/generate raw=True);
              the default when a server answers at $OLLAMA_HOST and has the model
    llamacpp  a GGUF in-process through llama-cpp-python; the offline default
    torch     the PyTorch checkpoint directly (no quantization; slowest, for debugging)

All three see the same prompt (alslm_ml.serve.prompt) and stop at <|eos|> or a new "User:" turn.
Temperature 0 is greedy decoding.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Iterator
from pathlib import Path

from alslm_ml.export import locate
from alslm_ml.export import ollama as oll
from alslm_ml.serve.prompt import START, STOP_TEXT, StopFilter, format_prompt
from alslm_ml.systems import Answer, GenerationConfig, System, TokenCallback
from alslm_ml.threads import llama_threads

BACKENDS = ("auto", "ollama", "llamacpp", "torch")
QUANTS = ("f16", "q8_0", "q5_k_m", "q4_k_m")


class _Backend:
    """Generates text pieces for a prompt; counts tokens in self.prompt_tokens/completion_tokens."""

    name = "backend"
    n_ctx = 0

    def encode(self, text: str) -> list[int] | None:  # None: this backend cannot count tokens
        return None

    def decode(self, ids: list[int]) -> str:
        raise NotImplementedError

    def stream(self, prompt: str, cfg: GenerationConfig) -> Iterator[str]:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"backend": self.name}

    def close(self) -> None:
        pass


class LlamaCppBackend(_Backend):
    name = "llamacpp"

    def __init__(self, gguf_path: str | Path, n_threads: int | None = None):
        from llama_cpp import Llama

        self.path = Path(gguf_path)
        if not self.path.exists():
            raise FileNotFoundError(f"GGUF file {self.path} does not exist: materialize the `gguf_models` asset")
        t0 = time.perf_counter()
        # n_ctx from the file's context length (0 = use the model's)
        try:
            self.llm = Llama(model_path=str(self.path), n_ctx=0, n_threads=n_threads or llama_threads(self.path),
                             verbose=False)
        except (ValueError, RuntimeError) as exc:  # llama.cpp: "Failed to load model from file"
            raise ValueError(f"{self.path}: llama.cpp cannot load it ({exc}); the file is truncated or not a GGUF — "
                             "delete it and materialize the `gguf_models` asset again") from None
        # one warm-up decode (buffers, thread pool) so it is counted as loading, not as the first
        # answer's time to first token
        self.llm.eval([self.llm.token_eos()])
        self.llm.reset()
        self.load_seconds = time.perf_counter() - t0
        self.n_ctx = int(self.llm.n_ctx())
        meta = self.llm.metadata
        self.n_ctx = min(self.n_ctx, int(meta.get("gpt2.context_length", self.n_ctx)))
        self.start_id = self.llm.token_eos()

    def encode(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def decode(self, ids: list[int]) -> str:
        return self.llm.detokenize(ids).decode("utf-8", errors="replace")

    def stream(self, prompt: str, cfg: GenerationConfig) -> Iterator[str]:
        ids = [self.start_id] + self.encode(prompt)
        self.prompt_tokens, self.completion_tokens = len(ids), 0
        budget = min(cfg.max_tokens, self.n_ctx - len(ids))
        if budget <= 0:
            return
        self.llm.set_seed(cfg.seed)
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a token may end mid-character
        greedy = cfg.temperature <= 0
        for tok in self.llm.generate(ids, temp=0.0 if greedy else cfg.temperature, top_k=cfg.top_k,
                                     top_p=cfg.top_p, min_p=0.0, repeat_penalty=cfg.repeat_penalty):
            if tok == self.start_id:  # <|eos|>
                break
            self.completion_tokens += 1
            piece = utf8.decode(self.llm.detokenize([tok]))
            if piece:
                yield piece
            if self.completion_tokens >= budget:
                break
        tail = utf8.decode(b"", final=True)
        if tail:
            yield tail

    def describe(self) -> dict:
        return {"backend": self.name, "model_file": str(self.path), "n_ctx": self.n_ctx,
                "quant": self.path.stem.removeprefix("als-lm-")}

    def close(self) -> None:
        self.llm.close()


class TorchBackend(_Backend):
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
        self.start_id = self.tok.token_to_id(START)
        if self.start_id is None:
            raise ValueError(f"{tokenizer_path}: no {START} token")

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)

    def _next(self, ids: list[int], cfg: GenerationConfig, gen) -> int:
        torch = self.torch
        with torch.no_grad():
            logits, _ = self.model(torch.tensor([ids[-self.n_ctx :]], device=self.device))
        logits = logits[0, -1].float().cpu()  # sampling on the CPU: the same draws on any device
        if cfg.repeat_penalty and cfg.repeat_penalty != 1.0:  # llama.cpp's rule over the last 64 tokens
            seen = torch.tensor(sorted(set(ids[-64:])))
            vals = logits[seen]
            logits[seen] = torch.where(vals > 0, vals / cfg.repeat_penalty, vals * cfg.repeat_penalty)
        if cfg.temperature <= 0:
            return int(logits.argmax())
        if cfg.top_k and cfg.top_k > 0:
            kth = torch.topk(logits, min(cfg.top_k, logits.numel())).values[-1]
            logits[logits < kth] = -float("inf")
        probs = torch.softmax(logits / cfg.temperature, dim=-1)
        if cfg.top_p < 1.0:
            p_sorted, order = probs.sort(descending=True)
            drop = p_sorted.cumsum(0) - p_sorted > cfg.top_p
            p_sorted[drop] = 0
            probs = torch.zeros_like(probs).scatter(0, order, p_sorted)
        return int(torch.multinomial(probs / probs.sum(), 1, generator=gen))

    def stream(self, prompt: str, cfg: GenerationConfig) -> Iterator[str]:
        ids = [self.start_id] + self.encode(prompt)
        self.prompt_tokens, self.completion_tokens = len(ids), 0
        budget = min(cfg.max_tokens, self.n_ctx - len(ids))
        gen = self.torch.Generator().manual_seed(cfg.seed)
        out: list[int] = []
        shown = ""
        for _ in range(max(budget, 0)):
            tok = self._next(ids + out, cfg, gen)
            if tok == self.start_id:
                break
            out.append(tok)
            self.completion_tokens += 1
            text = self.decode(out)  # decode the whole tail: merges bytes split across tokens
            if text.endswith("\ufffd"):
                continue
            yield text[len(shown):]
            shown = text

    def describe(self) -> dict:
        return {"backend": self.name, "model_dir": str(self.model_dir), "n_ctx": self.n_ctx, "device": str(self.device)}


class OllamaBackend(_Backend):
    name = "ollama"

    def __init__(self, model: str = oll.MODEL_NAME, base_url: str | None = None, transport=None,
                 tokenizer_path: str | Path | None = None, n_ctx: int | None = None):
        self.model, self.base_url = model, base_url or oll.host()
        self.client = oll.client(self.base_url, transport=transport)
        self.tok = None
        path = Path(tokenizer_path) if tokenizer_path else locate.tokenizer_file()
        if path.exists():
            from tokenizers import Tokenizer

            self.tok = Tokenizer.from_file(str(path))
        self.n_ctx = n_ctx or self._context_length()
        self.load_seconds = 0.0

    def _context_length(self) -> int:
        """The model's context from /api/show (model_info "<arch>.context_length"); 0 if unknown."""
        try:
            info = self.client.show(self.model).modelinfo or {}
        except Exception:  # noqa: BLE001 - an older server or a missing model: no truncation then
            return 0
        arch = info.get("general.architecture", "gpt2")
        return int(info.get(f"{arch}.context_length") or 0)

    def encode(self, text: str) -> list[int] | None:
        return self.tok.encode(text, add_special_tokens=False).ids if self.tok else None

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids) if self.tok else ""

    def stream(self, prompt: str, cfg: GenerationConfig) -> Iterator[str]:
        options = {"temperature": cfg.temperature, "top_k": cfg.top_k, "top_p": cfg.top_p,
                   "num_predict": cfg.max_tokens, "repeat_penalty": cfg.repeat_penalty, "seed": cfg.seed,
                   "stop": ["<|eos|>", STOP_TEXT]}
        ids = self.encode(START + prompt)
        # Until the final chunk reports the server's counts: our tokenizer's count for the prompt,
        # one token per streamed chunk (Ollama streams token by token) for the answer.
        self.prompt_tokens, self.completion_tokens = (len(ids) if ids is not None else 0), 0
        for chunk in self.client.generate(model=self.model, prompt=START + prompt, raw=True, stream=True,
                                          options=options):
            if chunk.done:
                self.prompt_tokens = chunk.prompt_eval_count or self.prompt_tokens
                self.completion_tokens = chunk.eval_count or self.completion_tokens
            elif chunk.response:
                self.completion_tokens += 1
            if chunk.response:
                yield chunk.response

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model, "host": self.base_url}


class ScratchSystem(System):
    name = "scratch"

    def __init__(self, backend: _Backend):
        self.backend = backend

    def _fit(self, question: str, cfg: GenerationConfig) -> tuple[str, bool]:
        """Cut the question so prompt + answer fit the context (keeps its beginning)."""
        n_ctx = self.backend.n_ctx
        if not n_ctx:
            return question, False
        reserve = min(cfg.max_tokens, n_ctx // 2)
        overhead = 8  # <|eos|>User: \nAssistant:
        ids = self.backend.encode(question)
        if ids is None:
            limit = 4 * (n_ctx - reserve - overhead)  # ~4 characters per token
            return (question[:limit], True) if len(question) > limit else (question, False)
        limit = n_ctx - reserve - overhead
        if len(ids) <= limit:
            return question, False
        return self.backend.decode(ids[: max(limit, 1)]), True

    def answer(self, question: str, cfg: GenerationConfig, on_token: TokenCallback | None = None) -> Answer:
        if not question.strip():
            raise ValueError("empty question")
        question_used, truncated = self._fit(question, cfg)
        t0 = time.perf_counter()
        first: list[float] = []

        def emit(piece: str) -> None:
            if not first:
                first.append(time.perf_counter() - t0)
            if on_token:
                on_token(piece)

        flt = StopFilter(emit)
        for piece in self.backend.stream(format_prompt(question_used), cfg):
            if not flt.feed(piece):
                break
        flt.flush()
        meta = {**self.backend.describe(), "truncated_question": truncated}
        return Answer(system=self.name, question=question, text=flt.text.strip(),
                      prompt_tokens=getattr(self.backend, "prompt_tokens", 0),
                      completion_tokens=getattr(self.backend, "completion_tokens", 0),
                      seconds=time.perf_counter() - t0, first_token_seconds=first[0] if first else None,
                      meta=meta)

    def describe(self) -> dict:
        return {"system": self.name, **self.backend.describe()}

    def close(self) -> None:
        self.backend.close()


def _ollama_has(model: str, base_url: str | None, transport=None, timeout: float = 1.0) -> bool:
    if oll.server_version(base_url, timeout=timeout, transport=transport) is None:
        return False
    try:
        names = [m.model for m in oll.client(base_url, timeout=timeout, transport=transport).list().models]
    except Exception:  # noqa: BLE001 - a server that answers /api/version but not /api/tags is unusable
        return False
    return any(n == model or n.split(":")[0] == model for n in names)


def load_scratch(backend: str = "auto", quant: str = "q8_0", model_dir: str | Path | None = None,
                 gguf_path: str | Path | None = None, tokenizer_path: str | Path | None = None,
                 host: str | None = None, model_name: str = oll.MODEL_NAME, transport=None,
                 n_threads: int | None = None) -> ScratchSystem:
    """Build the scratch System. backend="auto": Ollama when a server answers and has `model_name`,
    else the GGUF for `quant` in llama.cpp, else the PyTorch checkpoint."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if quant not in QUANTS:
        raise ValueError(f"unknown quant {quant!r}; choose one of {', '.join(QUANTS)}")
    gguf = Path(gguf_path) if gguf_path else locate.gguf_file(quant)
    if backend == "auto":
        if _ollama_has(model_name, host, transport):
            backend = "ollama"
        elif gguf.exists():
            backend = "llamacpp"
        else:
            try:
                model_dir = model_dir or locate.best_checkpoint()
                backend = "torch"
            except FileNotFoundError as e:
                raise FileNotFoundError(
                    f"no scratch model: no Ollama model {model_name!r} at {host or oll.host()}, no GGUF at {gguf}, "
                    f"and {e}") from None
    if backend == "ollama":
        return ScratchSystem(OllamaBackend(model_name, host, transport=transport, tokenizer_path=tokenizer_path))
    if backend == "llamacpp":
        return ScratchSystem(LlamaCppBackend(gguf, n_threads=n_threads))
    tok = Path(tokenizer_path) if tokenizer_path else locate.tokenizer_file()
    if not tok.exists():
        raise FileNotFoundError(f"tokenizer {tok} does not exist: materialize the `tokenizer` asset")
    return ScratchSystem(TorchBackend(model_dir or locate.best_checkpoint(), tok))
