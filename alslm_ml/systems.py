"""One interface for every system that answers ALS questions, so the chat demo, `alslm ask`, the
web app and the evaluation treat the from-scratch model, RAG, the no-retrieval baseline and the
fine-tuned model the same way.

    system = load_system("rag")
    ans = system.answer("What is riluzole?", GenerationConfig.greedy(), on_token=print)
    ans.text, ans.sources
"""

from __future__ import annotations

import functools
import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

SYSTEM_NAMES = ("scratch", "rag", "baseline", "base", "finetuned")

# Where each system's factory lives: "module:function". The factory takes keyword options
# (backend=, quant=, model_dir=, ...) and returns a System.
_FACTORIES = {
    "scratch": "alslm_ml.serve.scratch:load_scratch",
    "rag": "alslm_ml.rag.system:load_rag",
    "baseline": "alslm_ml.rag.system:load_baseline",
    "base": "alslm_ml.finetune.system:load_base",
    "finetuned": "alslm_ml.finetune.system:load_finetuned",
}


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


TokenCallback = Callable[[str], None]


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


def load_system(name: str, **options: Any) -> System:
    """Build a system by name: scratch, rag, baseline, base or finetuned."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown system {name!r}; choose one of {', '.join(SYSTEM_NAMES)}")
    module_name, func = _FACTORIES[name].split(":")
    return getattr(importlib.import_module(module_name), func)(**options)
