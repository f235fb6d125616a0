"""The from-scratch model as a System, on one of three runtimes:

    ollama    the registered `als-lm` model on an Ollama server (REST, /api/generate raw=True);
              the default when a server answers at $OLLAMA_HOST and has the model
    llamacpp  a GGUF in-process through llama-cpp-python; the offline default
    torch     the PyTorch checkpoint directly (no quantization; slowest, for debugging)

The model is a plain LM trained on corpus documents separated by <|eos|> (never <|bos|>), so a
prompt starts with <|eos|> — "a new document begins" (every runtime's `complete` puts it first) —
followed by the Modelfile's turn format without the system prompt (an untuned model gains nothing
from it and it would use ~110 of the tiny model's 256 context tokens):

    <|eos|>User: {question}\\nAssistant:

The prompt ends at "Assistant:" without the trailing space: byte-level BPE merges the space into the
next word (" ALS"), so a bare trailing space would be a token the model rarely saw. Generation
stops at <|eos|> or when the model starts a new "User:" turn. Temperature 0 is greedy decoding.
"""

from __future__ import annotations

from pathlib import Path

from alslm_ml.answer import Answer, System
from alslm_ml.export.ollama import MODEL_NAME
from alslm_ml.runtime import ollama
from alslm_ml.runtime.base import GenerationConfig, Runtime, TokenCallback

BACKENDS = ("auto", "ollama", "llamacpp", "torch")
QUANTS = ("f16", "q8_0", "q5_k_m", "q4_k_m")
STOP_TEXT = "\nUser:"
PROMPT_OVERHEAD = 8  # tokens of "<|eos|>User: \nAssistant:"


def format_prompt(question: str) -> str:
    return f"User: {question.strip()}\nAssistant:"


class ScratchSystem(System):
    name = "scratch"

    def __init__(self, runtime: Runtime, about: dict | None = None):
        self.runtime, self.about = runtime, about or {}

    def _fit(self, question: str, cfg: GenerationConfig) -> tuple[str, bool]:
        """Cut the question so prompt + answer fit the context (keeps its beginning)."""
        n_ctx = self.runtime.n_ctx
        if not n_ctx:
            return question, False
        limit = n_ctx - min(cfg.max_tokens, n_ctx // 2) - PROMPT_OVERHEAD
        if self.runtime.count_tokens(question) <= limit:
            return question, False
        return self.runtime.truncate(question, max(limit, 1)), True

    def answer(self, question: str, cfg: GenerationConfig, on_token: TokenCallback | None = None) -> Answer:
        if not question.strip():
            raise ValueError("empty question")
        question_used, truncated = self._fit(question, cfg)
        done = self.runtime.complete(format_prompt(question_used), cfg, on_token, stop=STOP_TEXT)
        return Answer(system=self.name, question=question, text=done.text.strip(), prompt_tokens=done.prompt_tokens,
                      completion_tokens=done.completion_tokens, seconds=done.seconds,
                      first_token_seconds=done.first_token_seconds,
                      meta={**self.runtime.describe(), **self.about, "truncated_question": truncated})

    def describe(self) -> dict:
        return {"system": self.name, **self.runtime.describe(), **self.about}

    def close(self) -> None:
        self.runtime.close()


def load_scratch(backend: str = "auto", quant: str = "q8_0", model_dir: str | Path | None = None,
                 gguf_path: str | Path | None = None, tokenizer_path: str | Path | None = None,
                 host: str | None = None, model_name: str = MODEL_NAME, transport=None,
                 n_threads: int | None = None) -> ScratchSystem:
    """Build the scratch System. backend="auto": Ollama when a server answers and has `model_name`,
    else the GGUF for `quant` in llama.cpp, else the PyTorch checkpoint."""
    from alslm_ml.export import locate  # imports torch (the GGUF writer): only when a system is built

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if quant not in QUANTS:
        raise ValueError(f"unknown quant {quant!r}; choose one of {', '.join(QUANTS)}")
    gguf = Path(gguf_path) if gguf_path else locate.gguf_file(quant)
    tok = Path(tokenizer_path) if tokenizer_path else locate.tokenizer_file()
    if backend == "auto":
        if ollama.has_model(model_name, host, transport):
            backend = "ollama"
        elif gguf.exists():
            backend = "llamacpp"
        else:
            try:
                model_dir = model_dir or locate.best_checkpoint()
                backend = "torch"
            except FileNotFoundError as e:
                raise FileNotFoundError(
                    f"no scratch model: no Ollama model {model_name!r} at {host or ollama.host()}, no GGUF at {gguf}, "
                    f"and {e}") from None
    if backend == "ollama":
        return ScratchSystem(ollama.Ollama(model_name, host, transport=transport, tokenizer_path=tok))
    if backend == "llamacpp":
        from alslm_ml.runtime.llamacpp import LlamaCpp

        if not gguf.exists():
            raise FileNotFoundError(f"GGUF file {gguf} does not exist: materialize the `gguf_models` asset")
        return ScratchSystem(LlamaCpp(gguf, n_ctx=0, n_threads=n_threads), {"quant": gguf.stem.removeprefix("als-lm-")})
    from alslm_ml.runtime.torch_gpt import TorchGPT

    if not tok.exists():
        raise FileNotFoundError(f"tokenizer {tok} does not exist: materialize the `tokenizer` asset")
    return ScratchSystem(TorchGPT(model_dir or locate.best_checkpoint(), tok))
