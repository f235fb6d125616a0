"""The scratch model's prompt format.

The model is a plain LM trained on corpus documents separated by <|eos|> (never <|bos|>), so a
prompt starts with <|eos|> — "a new document begins" — followed by the Modelfile's turn format
without the system prompt (an untuned model gains nothing from it and it would use ~110 of the
tiny model's 256 context tokens):

    <|eos|>User: {question}\\nAssistant:

The prompt ends at "Assistant:" without the trailing space: byte-level BPE merges the space into the
next word (" ALS"), so a bare trailing space would be a token the model rarely saw. Generation
stops at <|eos|> or when the model starts a new "User:" turn. All three backends (torch,
llama.cpp, Ollama with raw=True) see exactly this text.
"""

from __future__ import annotations

START = "<|eos|>"
STOP_TEXT = "\nUser:"


def format_prompt(question: str) -> str:
    return f"User: {question.strip()}\nAssistant:"


class StopFilter:
    """Streams text pieces onward, holding back anything that may be the start of STOP_TEXT and
    stopping once it appears (so "\\nUser:" never reaches the screen)."""

    def __init__(self, emit, stop: str = STOP_TEXT):
        self.emit, self.stop = emit, stop
        self.pending = ""
        self.text = ""
        self.stopped = False

    def feed(self, piece: str) -> bool:
        """Add a piece; returns False once the stop text has been seen."""
        if self.stopped:
            return False
        buf = self.pending + piece
        cut = buf.find(self.stop)
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
            s = s.lstrip(" ")  # the space after "Assistant:" belongs to the format, not the answer
            if not s:
                return
        self.text += s
        if self.emit:
            self.emit(s)
