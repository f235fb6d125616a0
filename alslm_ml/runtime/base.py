"""What every runtime takes and returns: decoding settings, a completion, the Runtime interface.

A runtime runs one model. `complete` continues raw text (the from-scratch model, which knows no
chat template); `chat` applies the model's own chat template to messages. Both stream text pieces
through `on_token` and return a Completion with the token counts the model reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

TokenCallback = Callable[[str], None]


@dataclass
class GenerationConfig:
    temperature: float = 0.7
    top_k: int = 40
    top_p: float = 0.9
    max_tokens: int = 256
    repeat_penalty: float = 1.1
    seed: int = 0

    @classmethod
    def greedy(cls, max_tokens: int = 128) -> GenerationConfig:
        """Deterministic decoding, the evaluation default."""
        return cls(temperature=0.0, top_k=1, top_p=1.0, max_tokens=max_tokens, repeat_penalty=1.1)

    def with_(self, **changes: Any) -> GenerationConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    first_token_seconds: float | None = None


class Runtime:
    """One loaded model. Implementations set `name` and `n_ctx` (0 = unknown) and implement
    `complete` and/or `chat`; `count_tokens` and `truncate` use the model's tokenizer where there
    is one, else about 4 characters per token."""

    name: str = "runtime"
    n_ctx: int = 0

    def complete(self, prompt: str, cfg: GenerationConfig, on_token: TokenCallback | None = None,
                 stop: str | None = None) -> Completion:
        """Continue `prompt` as a new document (after the model's end-of-text token), ending at
        end-of-text, at cfg.max_tokens, or before the text `stop` (which is never emitted)."""
        raise NotImplementedError(f"{self.name} has no raw completion")

    def chat(self, messages: list[dict], cfg: GenerationConfig, on_token: TokenCallback | None = None) -> Completion:
        """Answer chat messages ({"role", "content"}) in the model's chat template."""
        raise NotImplementedError(f"{self.name} has no chat template")

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def truncate(self, text: str, max_tokens: int) -> str:
        """The beginning of `text` within max_tokens."""
        return text[: max_tokens * 4]

    def describe(self) -> dict:
        return {"backend": self.name}

    def close(self) -> None:  # noqa: B027 - optional hook: release model memory
        pass


def stream_completion(pieces: Iterator[str], on_token: TokenCallback | None, stop: str | None) -> Completion:
    """Drive a runtime's stream of text pieces through a StopFilter: the text, its time and the
    time to the first shown piece (token counts are the runtime's to fill in). Leaves the stream
    early once the stop text appears."""
    t0 = time.perf_counter()
    first: list[float] = []

    def emit(piece: str) -> None:
        if not first:
            first.append(time.perf_counter() - t0)
        if on_token:
            on_token(piece)

    flt = StopFilter(emit, stop)
    for piece in pieces:
        if not flt.feed(piece):
            break
    flt.flush()
    return Completion(flt.text, seconds=time.perf_counter() - t0, first_token_seconds=first[0] if first else None)


class StopFilter:
    """Streams text pieces onward, holding back anything that may be the start of the stop text
    and stopping once it appears (so e.g. "\\nUser:" never reaches the screen). Leading spaces of
    the output are dropped: the space after a prompt's last word ("Assistant:") belongs to the
    prompt format, not to the answer. stop=None passes everything through."""

    def __init__(self, emit, stop: str | None = "\nUser:"):
        self.emit, self.stop = emit, stop or ""
        self.pending = ""
        self.text = ""
        self.stopped = False

    def feed(self, piece: str) -> bool:
        """Add a piece; returns False once the stop text has been seen."""
        if self.stopped:
            return False
        buf = self.pending + piece
        cut = buf.find(self.stop) if self.stop else -1
        if cut >= 0:
            self._out(buf[:cut])
            self.pending, self.stopped = "", True
            return False
        keep = 0  # longest suffix of buf that is a prefix of the stop text
        for k in range(min(len(self.stop) - 1, len(buf)), 0, -1):
            if self.stop.startswith(buf[-k:]):
                keep = k
                break
        self._out(buf[: len(buf) - keep])
        self.pending = buf[len(buf) - keep :]
        return True

    def flush(self) -> None:
        if not self.stopped:
            self._out(self.pending)
        self.pending = ""

    def _out(self, s: str) -> None:
        if not s:
            return
        if not self.text:
            s = s.lstrip(" ")
            if not s:
                return
        self.text += s
        if self.emit:
            self.emit(s)
