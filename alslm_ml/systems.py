"""Every system that answers ALS questions, by name, so the chat demo, `alslm ask`, the web app
and the evaluation treat the from-scratch model, RAG, the no-retrieval baseline and the base and
fine-tuned models the same way. The top of the library: it imports each system's factory; the
types come from alslm_ml.answer and alslm_ml.runtime.base (re-exported here for callers).

    system = load_system("rag")
    ans = system.answer("What is riluzole?", GenerationConfig.greedy(), on_token=print)
    ans.text, ans.sources
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alslm_ml.answer import MAX_QUESTION_CHARS, Answer, QuestionTooLong, SourceRef, System, check_question
from alslm_ml.finetune.system import load_base_system, load_finetuned
from alslm_ml.rag.system import load_baseline, load_rag
from alslm_ml.runtime.base import GenerationConfig, TokenCallback
from alslm_ml.scratch import load_scratch

# Each factory takes keyword options (backend=, quant=, model_dir=, ...) and returns a System.
FACTORIES: dict[str, Callable[..., System]] = {
    "scratch": load_scratch,
    "rag": load_rag,
    "baseline": load_baseline,
    "base": load_base_system,
    "finetuned": load_finetuned,
}
SYSTEM_NAMES = tuple(FACTORIES)

__all__ = ["MAX_QUESTION_CHARS", "SYSTEM_NAMES", "Answer", "GenerationConfig", "QuestionTooLong", "SourceRef",
           "System", "TokenCallback", "check_question", "load_system"]


def load_system(name: str, **options: Any) -> System:
    """Build a system by name: scratch, rag, baseline, base or finetuned."""
    if name not in FACTORIES:
        raise ValueError(f"unknown system {name!r}; choose one of {', '.join(SYSTEM_NAMES)}")
    return FACTORIES[name](**options)
