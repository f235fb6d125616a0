"""The retrieval baseline as Systems: "rag" (hybrid retrieval + grounded, cited answer) and
"baseline" (the same generator, no context), so the evaluation compares like with like.

    rag = load_rag()                       # SmolLM2-135M via llama.cpp, index under data/qdrant/
    rag = load_rag(backend="ollama", model="llama3.1:8b", k=5, sources=["pubmed"])
    ans = rag.answer("What does tofersen target?", GenerationConfig.greedy())
    ans.text, ans.sources, ans.meta["retrieved_text"]
"""

from __future__ import annotations

import re
import time
import warnings
from typing import Any

from alslm_ml.answer import Answer, SourceRef, System
from alslm_ml.rag import grounding
from alslm_ml.rag.expand import expand_query, synonyms_in
from alslm_ml.rag.retriever import RetrievalSettings, Retriever, check_question
from alslm_ml.runtime.base import GenerationConfig, Runtime, TokenCallback

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
LEAD_INSTRUCTION = (
    "You are a helpful assistant answering questions about ALS (amyotrophic lateral sclerosis). "
    "Answer the question in one short sentence using ONLY the numbered sentences below. "
    "Copy names, numbers and dates exactly as they are written."
)
LEAD_PROMPT = "{instruction}\n\nSentences:\n{context}\n\nQuestion: {question}\n\nOne-sentence answer:"
# extractive (default): the passages' best sentences for the question, quoted with citations
#       within max_tokens; no generation (measured best on the project benchmark, see docs/retrieval.md);
# auto: the same quotes led by one sentence the model writes from them (kept only when the
#       sentences support it);
# generate: the model's own answer from a context of selected sentences (extractive fallback
#       when the context does not support it).
ANSWER_MODES = ("auto", "generate", "extractive")
RARE_PIECES_PER_CHAR = 0.28  # SmolLM2 tokens per character above which a long word counts as a rare name


def _fit_question(question: str, gen: Runtime, reserve: int) -> str:
    """Truncate a question that would not fit the model's context window next to `reserve` tokens."""
    limit = max(32, gen.n_ctx - reserve)
    if gen.count_tokens(question) <= limit:
        return question
    warnings.warn(f"question longer than the {gen.n_ctx}-token context window; truncated to {limit} tokens", stacklevel=3)
    return gen.truncate(question, limit)


class RagSystem(System):
    name = "rag"

    def __init__(self, retriever: Retriever, generator: Runtime, settings: RetrievalSettings,
                 context_tokens: int = 1024, answer_mode: str = "extractive", min_support: float = 0.5,
                 expand: bool = True, lead_tokens: int = 40, dense_sentences: float = 0.0,
                 lm_judge: float = 0.0, judge_top: int = 4, judge_prompt: str = "plain"):
        if answer_mode not in ANSWER_MODES:
            raise ValueError(f"answer_mode {answer_mode!r}: expected one of {ANSWER_MODES}")
        self.retriever, self.gen, self.settings = retriever, generator, settings
        self.context_tokens, self.answer_mode, self.min_support = context_tokens, answer_mode, min_support
        self.expand, self.lead_tokens, self.dense_sentences = expand, lead_tokens, dense_sentences
        # lm_judge > 0: SmolLM2 rescores the top judge_top sentences (rag.rerank; off by default)
        self.lm_judge, self.judge_top, self.judge_prompt, self.judge = lm_judge, judge_top, judge_prompt, None

    def answer(self, question: str, cfg: GenerationConfig, on_token: TokenCallback | None = None) -> Answer:
        t0 = time.perf_counter()
        question = check_question(question)
        question = _fit_question(question, self.gen, self.context_tokens + cfg.max_tokens + 128)
        # The search (and the sentence selection) also uses the question's other names: a
        # question about Qalsody finds passages that say tofersen.
        focus, added = expand_query(question) if self.expand else (question, [])
        syn = synonyms_in(question) if self.expand else {}
        hits = self.retriever.search(focus, self.settings)
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
                                              "sources": list(self.settings.sources or [])},
                                "expanded_with": added}
        ans = Answer(system=self.name, question=question, text="", sources=sources, meta=meta)

        missing = grounding.missing_entities(question, passages, self._rare)
        ranked = grounding.rank_sentences(question, passages, syn)
        if not hits:
            return self._fixed(ans, grounding.NO_ANSWER + " (no passage was retrieved)", "no_hits", on_token, t0)
        if missing:
            meta["missing_entities"] = missing
            return self._fixed(ans, grounding.not_in_sources(missing), "entity_absent", on_token, t0)
        if not ranked or ranked[0].score <= 0.01:
            return self._fixed(ans, grounding.NO_ANSWER, "no_overlap", on_token, t0)
        if self.answer_mode in ("auto", "extractive"):
            return self._composed(ans, syn, passages, cfg, on_token, t0)

        context, chosen = grounding.build_context(question, passages, titles, self.context_tokens, self.gen.count_tokens)
        messages = [{"role": "user", "content": PROMPT.format(instruction=INSTRUCTION, context=context, question=question)}]
        buffered: list[str] = []
        # In auto mode the text is checked before it is shown, so tokens are streamed afterwards.
        gen = self.gen.chat(messages, cfg, on_token if self.answer_mode == "generate" else buffered.append)
        supported = grounding.support(gen.text, chosen)
        ratio = sum(src is not None for _, src in supported) / len(supported) if supported else 0.0
        meta.update(context=context, generated_text=gen.text, support=round(ratio, 3))
        text, how = grounding.cite(gen.text, supported), "generated"
        if self.answer_mode == "auto" and ratio < self.min_support:
            text, how = grounding.composed_answer(grounding.select_sentences(question, passages, cfg.max_tokens, self.gen.count_tokens,
                                                             synonyms=syn)), "extractive_fallback"
        if self.answer_mode == "auto" and on_token:
            on_token(text)
        text = self._fit(text, cfg.max_tokens)  # the added citations must not pass the limit
        meta["answer_mode"] = how
        ans.text, ans.prompt_tokens, ans.completion_tokens = text, gen.prompt_tokens, gen.completion_tokens
        ans.first_token_seconds = (t_retrieve + gen.first_token_seconds) if gen.first_token_seconds is not None else None
        ans.seconds = time.perf_counter() - t0
        ans.meta["answer_tokens"] = self.gen.count_tokens(text)
        return ans

    def _fit(self, text: str, max_tokens: int) -> str:
        """`text` within max_tokens: whole sentences dropped from the end, then the last one cut
        before its citations, which are kept."""
        count = self.gen.count_tokens
        if count(text) <= max_tokens:
            return text
        # "sentence [n]" pieces (split after a citation), else plain sentences
        sents = [x for x in (re.split(r"(?<=\])\s+", text) if grounding.CITATION.search(text) else grounding.SENTENCE_END.split(text))
                 if x.strip()]
        while len(sents) > 1 and count(" ".join(sents)) > max_tokens:
            sents.pop()
        text = " ".join(sents)
        if count(text) <= max_tokens:
            return text
        cites = " ".join(f"[{n}]" for n in grounding.CITATION.findall(text))
        body, n = grounding.CITATION.sub("", text).rstrip(), max_tokens - count(cites) - 1

        def cut(k: int) -> str:  # the first k tokens, without a word cut in half
            head = self.gen.truncate(body, max(1, k))
            if len(head) < len(body) and not body[len(head)].isspace() and " " in head.strip():
                head = head.rstrip().rsplit(" ", 1)[0]
            return f"{head.rstrip()} {cites}".strip()

        while n > 1 and count(cut(n)) > max_tokens:
            n -= 1
        return cut(n)

    def _similarity(self, question: str):
        """Dense cosine of each sentence with the question (the index's embedding model), weighted
        by `dense_sentences`, for the sentence selection."""
        import numpy as np

        q = np.asarray(next(iter(self.retriever.dense.query_embed([question]))), dtype=float)

        def score(texts: list[str]) -> list[float]:
            m = np.asarray(list(self.retriever.dense.embed(texts)), dtype=float)
            m /= np.linalg.norm(m, axis=1, keepdims=True) + 1e-9
            return list(self.dense_sentences * (m @ (q / (np.linalg.norm(q) + 1e-9))))

        return score

    def _judge(self, question: str):
        if not self.lm_judge:
            return None
        if self.judge is None:
            from alslm_ml.rag.rerank import LMJudge

            self.judge = LMJudge(prompt=self.judge_prompt)
        return self.judge.reranker(question, self.lm_judge, self.judge_top)

    def _rare(self, word: str) -> bool:
        """A word the generator's tokenizer cuts into many pieces for its length: a name rare
        in ordinary text (motoxaprine, tirasemtiv), which the sources must then contain."""
        n = self.gen.count_tokens(" " + word)
        return n >= 3 and n / len(word) >= RARE_PIECES_PER_CHAR

    def _composed(self, ans: Answer, syn: dict, passages: list[str], cfg: GenerationConfig, on_token, t0: float) -> Answer:
        """The answer built from the passages' best sentences within cfg.max_tokens (citations
        included); in auto mode led by one sentence the model writes from them, kept only when
        they support it. The model only compresses and connects; the facts are quoted."""
        budget = cfg.max_tokens
        # A question that takes something for granted the passages do not say (a trial that
        # "doubled survival", an approval that never happened) is told so before the quotes.
        premise = grounding.unsupported_premise(ans.question, passages, syn)
        note = grounding.premise_note(premise) if premise else ""
        if premise:
            ans.meta["unsupported_premise"] = premise
        else:  # "What dose of intrathecal riluzole ...": a form of the drug the sources never name
            phrase = grounding.unsupported_modifier(ans.question, passages, syn)
            if phrase:
                ans.meta["unsupported_premise"] = phrase
                note = grounding.modifier_note(phrase)
        if not note:  # a claim elsewhere in the question, or a figure no passage gives for it
            note = self._claim_note(ans, passages, syn)
        if note:
            budget -= self.gen.count_tokens(note) + 1
        sim = self._similarity(ans.question) if self.dense_sentences else None
        chosen = grounding.select_sentences(ans.question, passages, budget, self.gen.count_tokens, sim, synonyms=syn,
                                            judge=self._judge(ans.question))
        if not chosen and not note:
            return self._fixed(ans, grounding.NO_ANSWER, "no_overlap", on_token, t0)
        text, how = " ".join(x for x in (note, grounding.composed_answer(chosen)) if x), "extractive"
        if self.answer_mode == "auto" and self.lead_tokens > 0:
            context = "\n".join(f"[{s.source}] {s.text}" for s in chosen)
            messages = [{"role": "user", "content": LEAD_PROMPT.format(
                instruction=LEAD_INSTRUCTION, context=context, question=ans.question)}]
            gen = self.gen.chat(messages, cfg.with_(max_tokens=min(self.lead_tokens, max(1, budget // 2))))
            lead = grounding.split_sentences(grounding.CITATION.sub("", gen.text))[:1]
            supported = grounding.support(lead[0], chosen) if lead else []
            ans.meta.update(generated_text=gen.text, context=context)
            ans.prompt_tokens, ans.completion_tokens = gen.prompt_tokens, gen.completion_tokens
            if supported and all(src is not None for _, src in supported):
                lead_text = grounding.cite(lead[0], supported)
                rest = grounding.select_sentences(ans.question, passages, budget - self.gen.count_tokens(lead_text) - 1,
                                          self.gen.count_tokens, sim, synonyms=syn, already=lead[0])
                text, how = " ".join(x for x in (note, lead_text, grounding.composed_answer(rest)) if x), "lead_and_quotes"
        ans.meta.update(answer_mode=how, answer_tokens=self.gen.count_tokens(text))
        ans.text = text
        if on_token:
            on_token(text)
        ans.seconds = time.perf_counter() - t0
        ans.first_token_seconds = ans.seconds
        return ans

    @staticmethod
    def _claim_note(ans: Answer, passages: list[str], syn: dict) -> str:
        """The note for a claim the question states ("Which trial showed that X reverses ALS?",
        "TDP-43, the protein encoded by FUS"), a figure it gives ("four body regions"), a name it
        quotes or a contrast it draws ("in the nucleus, rather than the cytoplasm") that the
        passages do not support; "" when there is none."""
        claim = grounding.unsupported_claim(ans.question, passages, syn)
        if claim:
            ans.meta["unsupported_premise"] = claim
            return grounding.premise_note(claim)
        name = grounding.unsupported_figure(ans.question, passages, syn) or grounding.unquoted_name(ans.question, passages)
        if name:  # "four body regions", "the 'hyperbulbar' subtype"
            ans.meta["unsupported_premise"] = name
            return grounding.modifier_note(name)
        contrast = grounding.contradicted_contrast(ans.question, passages)
        if contrast:  # "TDP-43 aggregating inside the nucleus rather than the cytoplasm"
            ans.meta["unsupported_premise"] = contrast
            return grounding.premise_note(contrast)
        return ""

    def _fixed(self, ans: Answer, text: str, how: str, on_token, t0: float) -> Answer:
        """A deterministic answer (no generation)."""
        ans.text, ans.meta["answer_mode"] = text, how
        ans.meta["answer_tokens"] = self.gen.count_tokens(text)
        if on_token:
            on_token(text)
        ans.seconds = time.perf_counter() - t0
        ans.first_token_seconds = ans.seconds
        return ans

    def describe(self) -> dict:
        return {"system": self.name, **self.gen.describe(), "index": self.retriever.store.meta,
                "k": self.settings.k, "mode": self.settings.mode, "context_tokens": self.context_tokens,
                "answer_mode": self.answer_mode, "expand": self.expand, "lead_tokens": self.lead_tokens,
                "dense_sentences": self.dense_sentences,
                **({"lm_judge": self.lm_judge, "judge_top": self.judge_top, "judge_prompt": self.judge_prompt}
                   if self.lm_judge else {})}

    def close(self) -> None:
        self.retriever.close()
        self.gen.close()
        if self.judge is not None:
            self.judge.close()


class BaselineSystem(System):
    """The generator alone: what it says about ALS without retrieved context."""

    name = "baseline"

    def __init__(self, generator: Runtime):
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


DEFAULT_OLLAMA_MODEL = "llama3.1:8b"
OLLAMA_TIMEOUT_S = 120
LLAMACPP_NAMES = (None, "auto", "default", "llama.cpp", "llama_cpp", "llamacpp", "llama", "gguf")


def _generator(opts: dict) -> Runtime:
    """The chat model that writes answers: opts["generator"] when given, else backend "llama.cpp"
    (model = a GGUF path; default SmolLM2-135M-Instruct, 2,048-token context) or "ollama"
    (model = an Ollama model name; default llama3.1:8b, 8,192-token context)."""
    if isinstance(opts.get("generator"), Runtime):
        return opts["generator"]
    backend, model = opts.get("backend") or "llama.cpp", opts.get("model") or opts.get("model_path")
    if backend in LLAMACPP_NAMES:
        from alslm_ml.runtime.llamacpp import LlamaCpp

        return LlamaCpp(model, n_ctx=opts.get("n_ctx") or 2048, n_threads=opts.get("n_threads"))
    if backend == "ollama":
        from alslm_ml.runtime.ollama import Ollama

        return Ollama(model or DEFAULT_OLLAMA_MODEL, opts.get("host"), n_ctx=opts.get("n_ctx") or 8192,
                      timeout=opts.get("timeout") or OLLAMA_TIMEOUT_S, transport=opts.get("transport"))
    raise ValueError(f"unknown generator backend {backend!r}: use 'llama.cpp' or 'ollama'")


def load_rag(**opts: Any) -> RagSystem:
    """Options: backend ("llama.cpp" | "ollama"), model (GGUF path or Ollama name), k (5), mode
    ("hybrid" | "dense" | "sparse"), sources (list of source names to filter on), context_tokens
    (1024, generate mode), answer_mode ("extractive" | "auto" | "generate"), expand (True: query
    expansion with aliases.txt), lead_tokens (40, auto mode), lm_judge (0: off; a weight, or inf,
    for SmolLM2's judgement of the top judge_top (4) sentences, rag.rerank; inf measured best),
    judge_prompt ("plain"), collection, index_root, n_threads, n_ctx. Other options (e.g. quant)
    are ignored."""
    settings = RetrievalSettings(k=int(opts.get("k", 5)), mode=opts.get("mode", "hybrid"),
                                 prefetch=int(opts.get("prefetch", 20)), sources=opts.get("sources") or None)
    retriever = opts.get("retriever") or Retriever(name=opts.get("collection", "alslm_chunks"), root=opts.get("index_root"))
    try:
        gen = _generator(opts)
    except BaseException:
        retriever.close()
        raise
    return RagSystem(retriever, gen, settings, int(opts.get("context_tokens", 1024)),
                     opts.get("answer_mode", "extractive"), float(opts.get("min_support", 0.5)),
                     bool(opts.get("expand", True)), int(opts.get("lead_tokens", 40)),
                     float(opts.get("dense_sentences", 0.0)), float(opts.get("lm_judge", 0.0)),
                     int(opts.get("judge_top", 4)), opts.get("judge_prompt", "plain"))


def load_baseline(**opts: Any) -> BaselineSystem:
    """The same generator options as load_rag, no retrieval."""
    return BaselineSystem(_generator(opts))
