"""The retrieval baseline as Systems: "rag" (hybrid retrieval + grounded, cited answer) and
"baseline" (the same generator, no context), so the evaluation compares like with like.

    rag = load_rag()                       # SmolLM2-135M via llama.cpp, index under data/qdrant/
    rag = load_rag(backend="ollama", model="llama3.1:8b", k=5, sources=["pubmed"])
    ans = rag.answer("What does tofersen target?", GenerationConfig.greedy())
    ans.text, ans.sources, ans.meta["retrieved_text"]
"""

from __future__ import annotations

import time
import warnings
from typing import Any

from alslm_ml.rag import grounding as g
from alslm_ml.rag.generator import Generator, load_generator
from alslm_ml.rag.retriever import RetrievalSettings, Retriever, check_question
from alslm_ml.systems import Answer, GenerationConfig, SourceRef, System, TokenCallback

INSTRUCTION = (
    "You are a helpful assistant answering questions about ALS (amyotrophic lateral sclerosis). "
    "Use ONLY the following context to answer the question. If the context does not contain enough "
    "information to answer, say so. Cite the numbered sources you use, like [1]."
)
PROMPT = "{instruction}\n\nContext:\n{context}\n\nQuestion: {question}\n\nAnswer:"
BASELINE_PROMPT = (
    "You are a helpful assistant answering questions about ALS (amyotrophic lateral sclerosis).\n\n"
    "Question: {question}\n\nAnswer:"
)
ANSWER_MODES = ("auto", "generate", "extractive")


def _fit_question(question: str, gen: Generator, reserve: int) -> str:
    """Truncate a question that would not fit the model's context window next to `reserve` tokens."""
    limit = max(32, gen.n_ctx - reserve)
    if gen.count_tokens(question) <= limit:
        return question
    warnings.warn(f"question longer than the {gen.n_ctx}-token context window; truncated to {limit} tokens", stacklevel=3)
    return gen.truncate(question, limit)


class RagSystem(System):
    name = "rag"

    def __init__(self, retriever: Retriever, generator: Generator, settings: RetrievalSettings,
                 context_tokens: int = 384, answer_mode: str = "auto", min_support: float = 0.5):
        if answer_mode not in ANSWER_MODES:
            raise ValueError(f"answer_mode {answer_mode!r}: expected one of {ANSWER_MODES}")
        self.retriever, self.gen, self.settings = retriever, generator, settings
        self.context_tokens, self.answer_mode, self.min_support = context_tokens, answer_mode, min_support

    def answer(self, question: str, cfg: GenerationConfig, on_token: TokenCallback | None = None) -> Answer:
        t0 = time.perf_counter()
        question = check_question(question)
        question = _fit_question(question, self.gen, self.context_tokens + cfg.max_tokens + 128)
        hits = self.retriever.search(question, self.settings)
        t_retrieve = time.perf_counter() - t0
        sources = [
            SourceRef(index=i + 1, doc_id=h.payload.get("doc_id", ""), title=h.payload.get("title", ""),
                      url=h.payload.get("url", ""), source=h.payload.get("source", ""),
                      license=h.payload.get("license", ""), text=h.text, score=h.score,
                      start=int(h.payload.get("start", 0)), end=int(h.payload.get("end", 0)))
            for i, h in enumerate(hits)
        ]
        passages, titles = [s.text for s in sources], [s.title or s.doc_id for s in sources]
        meta: dict[str, Any] = {"retrieved_text": passages, "retrieve_seconds": round(t_retrieve, 4),
                                "retrieval": {"k": self.settings.k, "mode": self.settings.mode,
                                              "sources": list(self.settings.sources or [])}}
        ans = Answer(system=self.name, question=question, text="", sources=sources, meta=meta)

        missing = g.missing_entities(question, passages)
        ranked = g.rank_sentences(question, passages)
        if not hits:
            return self._fixed(ans, g.NO_ANSWER + " (no passage was retrieved)", "no_hits", on_token, t0)
        if missing:
            meta["missing_entities"] = missing
            return self._fixed(ans, g.not_in_sources(missing), "entity_absent", on_token, t0)
        if not ranked or ranked[0].score <= 0.01:
            return self._fixed(ans, g.NO_ANSWER, "no_overlap", on_token, t0)
        if self.answer_mode == "extractive":
            return self._fixed(ans, g.extractive_answer(ranked, titles), "extractive", on_token, t0)

        context, chosen = g.build_context(question, passages, titles, self.context_tokens, self.gen.count_tokens)
        messages = [{"role": "user", "content": PROMPT.format(instruction=INSTRUCTION, context=context, question=question)}]
        buffered: list[str] = []
        # In auto mode the text is checked before it is shown, so tokens are streamed afterwards.
        gen = self.gen.chat(messages, cfg, on_token if self.answer_mode == "generate" else buffered.append)
        supported = g.support(gen.text, chosen)
        ratio = sum(src is not None for _, src in supported) / len(supported) if supported else 0.0
        meta.update(context=context, generated_text=gen.text, support=round(ratio, 3))
        text, how = g.cite(gen.text, supported), "generated"
        if self.answer_mode == "auto" and ratio < self.min_support:
            text, how = g.extractive_answer(ranked, titles), "extractive_fallback"
        if self.answer_mode == "auto" and on_token:
            on_token(text)
        meta["answer_mode"] = how
        ans.text, ans.prompt_tokens, ans.completion_tokens = text, gen.prompt_tokens, gen.completion_tokens
        ans.first_token_seconds = (t_retrieve + gen.first_token_seconds) if gen.first_token_seconds is not None else None
        ans.seconds = time.perf_counter() - t0
        return ans

    def _fixed(self, ans: Answer, text: str, how: str, on_token, t0: float) -> Answer:
        """A deterministic answer (no generation)."""
        ans.text, ans.meta["answer_mode"] = text, how
        if on_token:
            on_token(text)
        ans.seconds = time.perf_counter() - t0
        ans.first_token_seconds = ans.seconds
        return ans

    def describe(self) -> dict:
        return {"system": self.name, **self.gen.describe(), "index": self.retriever.store.meta,
                "k": self.settings.k, "mode": self.settings.mode, "context_tokens": self.context_tokens,
                "answer_mode": self.answer_mode}

    def close(self) -> None:
        self.retriever.close()
        self.gen.close()


class BaselineSystem(System):
    """The generator alone: what it says about ALS without retrieved context."""

    name = "baseline"

    def __init__(self, generator: Generator):
        self.gen = generator

    def answer(self, question: str, cfg: GenerationConfig, on_token: TokenCallback | None = None) -> Answer:
        t0 = time.perf_counter()
        question = _fit_question(check_question(question), self.gen, cfg.max_tokens + 64)
        gen = self.gen.chat([{"role": "user", "content": BASELINE_PROMPT.format(question=question)}], cfg, on_token)
        return Answer(system=self.name, question=question, text=gen.text.strip(), prompt_tokens=gen.prompt_tokens,
                      completion_tokens=gen.completion_tokens, seconds=time.perf_counter() - t0,
                      first_token_seconds=gen.first_token_seconds, meta={"retrieved_text": []})

    def describe(self) -> dict:
        return {"system": self.name, **self.gen.describe()}

    def close(self) -> None:
        self.gen.close()


_GEN_KEYS = ("n_ctx", "n_threads", "host", "timeout", "transport")


def _generator(opts: dict) -> Generator:
    if isinstance(opts.get("generator"), Generator):
        return opts["generator"]
    backend = opts.get("backend") or "llama.cpp"
    return load_generator(backend, opts.get("model") or opts.get("model_path"),
                          **{k: opts[k] for k in _GEN_KEYS if opts.get(k) is not None})


def load_rag(**opts: Any) -> RagSystem:
    """Options: backend ("llama.cpp" | "ollama"), model (GGUF path or Ollama name), k (5), mode
    ("hybrid" | "dense" | "sparse"), sources (list of source names to filter on), context_tokens
    (384), answer_mode ("auto" | "generate" | "extractive"), collection, index_root, n_threads,
    n_ctx. Other options (e.g. quant) are ignored."""
    settings = RetrievalSettings(k=int(opts.get("k", 5)), mode=opts.get("mode", "hybrid"),
                                 prefetch=int(opts.get("prefetch", 20)), sources=opts.get("sources") or None)
    retriever = opts.get("retriever") or Retriever(name=opts.get("collection", "alslm_chunks"), root=opts.get("index_root"))
    try:
        gen = _generator(opts)
    except BaseException:
        retriever.close()
        raise
    return RagSystem(retriever, gen, settings, int(opts.get("context_tokens", 384)),
                     opts.get("answer_mode", "auto"), float(opts.get("min_support", 0.5)))


def load_baseline(**opts: Any) -> BaselineSystem:
    """The same generator options as load_rag, no retrieval."""
    return BaselineSystem(_generator(opts))
