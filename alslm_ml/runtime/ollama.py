"""An Ollama server over HTTP (the official `ollama` client): raw completion (/api/generate with
raw=True, the registered from-scratch `als-lm` model) and chat (/api/chat, any pulled model, in its
Modelfile's template). Also the server probes the systems and the export stage share.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

from alslm_ml.runtime.base import Completion, GenerationConfig, Runtime, TokenCallback, stream_completion

DEFAULT_HOST = "http://127.0.0.1:11434"
END_OF_TEXT = "<|eos|>"  # the from-scratch model's end-of-text token, written as text (raw=True)


def host() -> str:
    """$OLLAMA_HOST (with http:// added when it has no scheme), else the local default."""
    h = os.environ.get("OLLAMA_HOST", "").strip() or DEFAULT_HOST
    return h if "://" in h else f"http://{h}"


def client(base_url: str | None = None, timeout: float = 600.0, transport=None):
    import ollama

    kwargs = {"transport": transport} if transport is not None else {}
    return ollama.Client(host=base_url or host(), timeout=timeout, **kwargs)


def server_version(base_url: str | None = None, timeout: float = 1.0, transport=None) -> str | None:
    """The server's version when an Ollama server answers at base_url (default $OLLAMA_HOST), else None."""
    import httpx

    try:
        with httpx.Client(base_url=base_url or host(), timeout=timeout, transport=transport) as c:
            r = c.get("/api/version")
            r.raise_for_status()
            return str(r.json().get("version", "unknown"))
    except (httpx.HTTPError, ValueError):
        return None


def has_model(model: str, base_url: str | None = None, transport=None, timeout: float = 1.0) -> bool:
    """True when a server answers at base_url and has pulled `model` (any tag when none is given)."""
    if server_version(base_url, timeout=timeout, transport=transport) is None:
        return False
    try:
        names = [m.model for m in client(base_url, timeout=timeout, transport=transport).list().models]
    except Exception:  # noqa: BLE001 - a server that answers /api/version but not /api/tags is unusable
        return False
    return any(n == model or n.split(":")[0] == model for n in names)


class Ollama(Runtime):
    """`model` on the server at `base_url`. n_ctx: the context to ask for (None: the model's, from
    /api/show, 0 when unknown). tokenizer_path: a tokenizer.json for exact token counts (the
    from-scratch model); without one, counts are about 4 characters per token."""

    def __init__(self, model: str, base_url: str | None = None, n_ctx: int | None = None, timeout: float = 600.0,
                 transport=None, tokenizer_path: str | Path | None = None):
        self.model, self.base_url = model, base_url or host()
        self.name = f"ollama:{model}"
        self.client = client(self.base_url, timeout=timeout, transport=transport)
        self.tok = None
        if tokenizer_path and Path(tokenizer_path).exists():
            from tokenizers import Tokenizer

            self.tok = Tokenizer.from_file(str(tokenizer_path))
        self.n_ctx = n_ctx if n_ctx is not None else self._context_length()
        self.load_seconds = 0.0

    def _context_length(self) -> int:
        """The model's context from /api/show (model_info "<arch>.context_length"); 0 if unknown."""
        try:
            info = self.client.show(self.model).modelinfo or {}
        except Exception:  # noqa: BLE001 - an older server or a missing model: no truncation then
            return 0
        arch = info.get("general.architecture", "gpt2")
        return int(info.get(f"{arch}.context_length") or 0)

    def count_tokens(self, text: str) -> int:
        return len(self.tok.encode(text, add_special_tokens=False).ids) if self.tok else super().count_tokens(text)

    def truncate(self, text: str, max_tokens: int) -> str:
        if not self.tok:
            return super().truncate(text, max_tokens)
        ids = self.tok.encode(text, add_special_tokens=False).ids
        return text if len(ids) <= max_tokens else self.tok.decode(ids[:max_tokens])

    def _options(self, cfg: GenerationConfig) -> dict:
        return {"temperature": cfg.temperature, "top_k": cfg.top_k, "top_p": cfg.top_p, "num_predict": cfg.max_tokens,
                "repeat_penalty": cfg.repeat_penalty, "seed": cfg.seed}

    def _calls(self, chunks: Iterator) -> Iterator:
        """The server's chunks, its failures as one clear error."""
        import httpx
        import ollama

        try:
            yield from chunks
        except (httpx.ConnectError, httpx.TimeoutException, ConnectionError) as e:
            raise ConnectionError(f"Ollama server at {self.base_url} does not answer ({e}); "
                                  "start it or unset OLLAMA_HOST") from e
        except ollama.ResponseError as e:
            raise RuntimeError(f"Ollama at {self.base_url}, model {self.model!r}: {e.error} "
                               f"(try: ollama pull {self.model})") from e

    def complete(self, prompt: str, cfg: GenerationConfig, on_token: TokenCallback | None = None,
                 stop: str | None = None) -> Completion:
        prompt = END_OF_TEXT + prompt
        options = {**self._options(cfg), "stop": [END_OF_TEXT] + ([stop] if stop else [])}
        # Until the final chunk reports the server's counts: our tokenizer's count for the prompt,
        # one token per streamed chunk (Ollama streams token by token) for the answer.
        counts = {"prompt": self.count_tokens(prompt) if self.tok else 0, "completion": 0}

        def pieces() -> Iterator[str]:
            for chunk in self._calls(self.client.generate(model=self.model, prompt=prompt, raw=True, stream=True,
                                                          options=options)):
                if chunk.done:
                    counts["prompt"] = chunk.prompt_eval_count or counts["prompt"]
                    counts["completion"] = chunk.eval_count or counts["completion"]
                elif chunk.response:
                    counts["completion"] += 1
                if chunk.response:
                    yield chunk.response

        done = stream_completion(pieces(), on_token, stop)
        done.prompt_tokens, done.completion_tokens = counts["prompt"], counts["completion"]
        return done

    def chat(self, messages: list[dict], cfg: GenerationConfig, on_token: TokenCallback | None = None) -> Completion:
        options = {**self._options(cfg), "num_ctx": self.n_ctx}
        t0, first, parts, last = time.perf_counter(), None, [], None
        for chunk in self._calls(self.client.chat(model=self.model, messages=messages, stream=True, options=options)):
            piece = chunk.message.content or ""
            if piece:
                first = first if first is not None else time.perf_counter() - t0
                parts.append(piece)
                if on_token:
                    on_token(piece)
            last = chunk
        return Completion("".join(parts), int(getattr(last, "prompt_eval_count", 0) or 0),
                          int(getattr(last, "eval_count", 0) or 0), time.perf_counter() - t0, first)

    def describe(self) -> dict:
        return {"backend": "ollama", "model": self.model, "host": self.base_url}
