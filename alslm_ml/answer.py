"""What a system is and what it returns: the System interface every system implements (scratch,
rag, baseline, base, finetuned), its Answer with the SourceRefs it cites, and the one question-length
rule. A bottom module: the systems import it, and so do the evaluation and the UI, without loading
any system."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any

from alslm_ml.runtime.base import GenerationConfig, TokenCallback


@dataclass
class SourceRef:
    """A retrieved passage an answer may cite as [index]."""

    index: int
    doc_id: str
    title: str
    url: str
    source: str
    license: str = ""
    text: str = ""
    score: float = 0.0
    start: int = 0  # character offsets of the chunk within its document
    end: int = 0


@dataclass
class Answer:
    system: str
    question: str
    text: str
    sources: list[SourceRef] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    first_token_seconds: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Longest question any system accepts. The benchmark's longest is under 100 characters; 2,000
# keeps every prompt far inside each model's context and its compute bounded (a 100 KB question
# once made one answer run for minutes at 2.4 GB).
MAX_QUESTION_CHARS = 2000


class QuestionTooLong(ValueError):
    """A question over MAX_QUESTION_CHARS; refused before any model sees it."""


def check_question(question: str, limit: int = MAX_QUESTION_CHARS) -> str:
    """The question, or QuestionTooLong with its length and the limit."""
    if len(question or "") > limit:
        raise QuestionTooLong(f"the question is {len(question):,} characters; the limit is {limit:,} — "
                              "shorten it (ask one thing at a time)")
    return question


class System(ABC):
    """Something that answers a question. Subclasses set `name` and implement `answer`.

    Every subclass's `answer` is wrapped (in __init_subclass__) so a question over
    MAX_QUESTION_CHARS is refused in one place, whichever system, caller or backend."""

    name: str = "system"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        inner = cls.__dict__.get("answer")
        if inner is None or getattr(inner, "_checks_question", False):
            return

        @functools.wraps(inner)
        def answer(self, question: str, *args: Any, **kw: Any) -> Answer:
            check_question(question)
            return inner(self, question, *args, **kw)

        answer._checks_question = True  # type: ignore[attr-defined]
        cls.answer = answer  # type: ignore[method-assign]

    @abstractmethod
    def answer(self, question: str, cfg: GenerationConfig, on_token: TokenCallback | None = None) -> Answer:
        """Answer one question; call on_token with each piece of text as it is generated."""

    def describe(self) -> dict[str, Any]:
        """What this system is (model file, backend, quantization), for logs and reports."""
        return {"system": self.name}

    def close(self) -> None:  # noqa: B027 (optional hook: release model memory)
        return None
