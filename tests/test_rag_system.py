"""The rag and baseline Systems end to end: real index, real embeddings, real llama.cpp
(SmolLM2-135M), Ollama through its recorded HTTP API; citations, "not in sources", bad input,
retrieval quality per question."""

import json
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "rag"))
import ragkit  # noqa: E402

from alslm_ml.rag import grounding  # noqa: E402
from alslm_ml.rag.build import build_vector_index  # noqa: E402
from alslm_ml.rag.system import load_baseline, load_rag  # noqa: E402
from alslm_ml.runtime.llamacpp import LlamaCpp  # noqa: E402
from alslm_ml.systems import GenerationConfig, SourceRef, load_system  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "rag"


@pytest.fixture(scope="module")
def default_index(tmp_path_factory):
    """The mini corpus indexed at the default location (data/qdrant/alslm_chunks)."""
    for d in ragkit.data_dir_env(tmp_path_factory, "rag_system"):
        build_vector_index(ragkit.mini_corpus(), progress=False)
        yield d


@pytest.fixture(scope="module")
def smollm(default_index):
    gen = LlamaCpp(n_ctx=2048, n_threads=1)
    yield gen
    gen.close()


@pytest.fixture(scope="module")
def rag(smollm):
    system = load_system("rag", generator=smollm, context_tokens=160, answer_mode="generate")
    yield system
    system.retriever.close()


def _assert_citations_mapped(ans):
    cited = {int(n) for n in grounding.CITATION.findall(ans.text)}
    assert cited, ans.text
    assert cited <= {s.index for s in ans.sources}
    for s in ans.sources:
        assert isinstance(s, SourceRef) and s.title and s.url.startswith("https://") and s.doc_id
    assert ans.meta["retrieved_text"] == [s.text for s in ans.sources]


def test_extractive_answer_quotes_sources_with_citations(default_index):
    system = load_rag(generator=_NoGeneration())  # the default: no generation
    ans = system.answer("When did the FDA approve riluzole?", GenerationConfig.greedy())
    assert ans.meta["answer_mode"] == "extractive" and ans.meta["answer_tokens"] <= 128
    assert ans.system == "rag" and len(ans.sources) == 5
    _assert_citations_mapped(ans)
    cited = int(grounding.CITATION.findall(ans.text)[0])
    assert ans.sources[cited - 1].doc_id == "riluzole-mechanism-and-approval"
    # every quoted sentence is verbatim text of the source it cites (a quote cut to fit ends in " …")
    for sentence, n in grounding.CITATION_SPLIT.findall(ans.text):
        assert sentence.strip().removesuffix(" …") in ans.sources[int(n) - 1].text
    system.retriever.close()


def test_a_figure_or_claim_no_source_gives_is_named_before_the_quotes(default_index):
    system = load_rag(generator=_NoGeneration())
    cfg = GenerationConfig.greedy()
    ans = system.answer("What did the FDA say when it approved riluzole in 2005?", cfg)
    assert ans.meta["unsupported_premise"] == "2005", ans.text
    assert ans.text.startswith('The retrieved sources do not mention "2005"; what they say:')
    assert grounding.CITATION.search(ans.text)  # the quotes follow
    ans = system.answer("Which study showed that riluzole cures ALS?", cfg)
    assert ans.meta["unsupported_premise"] == "riluzole cures ALS", ans.text
    ans = system.answer("How common is the 'riluzole rebound' after stopping riluzole?", cfg)
    assert ans.text.startswith('The retrieved sources do not mention "riluzole rebound"'), ans.text
    for ok in ("What did the FDA say when it approved riluzole in 1995?", "Which study showed that riluzole prolongs survival?"):
        ans = system.answer(ok, cfg)
        assert "unsupported_premise" not in ans.meta and not ans.text.startswith("The retrieved sources"), (ok, ans.text)
    system.retriever.close()


def test_absent_entity_is_said_plainly_without_generation(rag):
    ans = rag.answer("What did the trial of zelcorasen in SOD1 ALS show?", GenerationConfig.greedy())
    assert ans.meta["answer_mode"] == "entity_absent"
    assert ans.meta["missing_entities"] == ["zelcorasen"]
    assert ans.text.startswith('The retrieved sources do not mention "zelcorasen"')
    assert ans.completion_tokens == 0 and ans.sources  # what was retrieved is still shown


def test_rag_answer_through_llama_cpp_is_grounded_and_cited(rag):
    streamed = []
    ans = rag.answer("What does tofersen target?", GenerationConfig.greedy(max_tokens=48), on_token=streamed.append)
    assert ans.prompt_tokens > 50 and ans.completion_tokens > 0
    assert ans.meta["answer_mode"] in ("generated", "extractive_fallback")
    assert "SOD1" in ans.text
    if ans.meta["answer_mode"] == "generated":  # streamed as generated; citations added afterwards,
        words = grounding.CITATION.sub("", ans.text).split()  # then cut to max_tokens with them
        assert words and "".join(streamed).split()[: len(words)] == words
        assert rag.gen.count_tokens(ans.text) <= 48 and ans.meta["answer_tokens"] <= 48
    _assert_citations_mapped(ans)
    assert "[1] " in ans.meta["context"] and "Question: What does tofersen target?" not in ans.meta["context"]


def test_auto_answer_is_quoted_sentences_led_by_a_checked_sentence(default_index, smollm):
    """auto: the best sentences of all passages, quoted with citations within max_tokens, led by
    one generated sentence only when the quoted sentences support it."""
    system = load_rag(generator=smollm, answer_mode="auto")
    streamed = []
    cfg = GenerationConfig.greedy(max_tokens=64)
    ans = system.answer("When did the FDA approve riluzole?", cfg, on_token=streamed.append)
    assert ans.meta["answer_mode"] in ("lead_and_quotes", "extractive") and "".join(streamed) == ans.text
    assert ans.meta["answer_tokens"] == smollm.count_tokens(ans.text) <= 64
    assert 0 < ans.completion_tokens <= system.lead_tokens and "1995" in ans.text
    _assert_citations_mapped(ans)
    pairs = grounding.CITATION_SPLIT.findall(ans.text)
    quoted = pairs[1:] if ans.meta["answer_mode"] == "lead_and_quotes" else pairs
    assert quoted and all(sent.strip() in ans.sources[int(n) - 1].text for sent, n in quoted)
    system.retriever.close()


@pytest.mark.slow
def test_baseline_uses_same_generator_without_context(smollm):
    base = load_baseline(generator=smollm)
    ans = base.answer("What is riluzole?", GenerationConfig.greedy(max_tokens=24))
    assert ans.system == "baseline" and ans.text and not ans.sources
    assert ans.meta["retrieved_text"] == [] and ans.prompt_tokens < 80


@pytest.mark.parametrize("question", ["", "   \n\t "])
def test_empty_question_is_rejected(rag, smollm, question):
    with pytest.raises(ValueError, match="question is empty"):
        rag.answer(question, GenerationConfig.greedy())
    with pytest.raises(ValueError, match="question is empty"):
        load_baseline(generator=smollm).answer(question, GenerationConfig.greedy())


def test_question_longer_than_context_window_is_truncated_with_warning(default_index, smollm):
    system = load_rag(generator=smollm, answer_mode="extractive")
    # under systems.MAX_QUESTION_CHARS (refused above it), over what the context leaves for a long answer
    long_q = "What does tofersen target? " + "Please explain in detail the motor neuron findings. " * 35
    with pytest.warns(UserWarning, match="context window; truncated"):
        ans = system.answer(long_q, GenerationConfig.greedy(max_tokens=1800))
    assert smollm.count_tokens(ans.question) <= smollm.n_ctx
    assert ans.question.startswith("What does tofersen target?")
    system.retriever.close()


def test_missing_index_names_the_asset(tmp_path, monkeypatch, smollm):
    monkeypatch.setenv("ALSLM_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="--select vector_index"):
        load_rag(generator=smollm)


def _ollama_transport(seen):
    body = (FIXTURES / "ollama_chat_stream.ndjson").read_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.url.path == "/api/chat"
        return httpx.Response(200, content=body, headers={"content-type": "application/x-ndjson"})

    return httpx.MockTransport(handler)


def test_ollama_backend_with_recorded_api_responses(default_index):
    seen = []
    system = load_rag(backend="ollama", model="llama3.1:8b", host="http://ollama.test:11434", transport=_ollama_transport(seen),
                      answer_mode="generate")
    tokens = []
    ans = system.answer("When was riluzole approved?", GenerationConfig.greedy(), on_token=tokens.append)
    req = json.loads(seen[0].content)
    assert req["model"] == "llama3.1:8b" and req["stream"] is True
    assert req["options"]["temperature"] == 0.0 and req["options"]["num_predict"] == 128
    prompt = req["messages"][0]["content"]
    assert "Use ONLY the following context" in prompt and "Question: When was riluzole approved?" in prompt
    assert "[1] Riluzole" in prompt
    assert ans.text.startswith("Riluzole was the first drug approved anywhere in the world")
    assert ans.prompt_tokens == 412 and ans.completion_tokens == 17
    assert ans.meta["answer_mode"] == "generated" and ans.meta["support"] == 1.0
    _assert_citations_mapped(ans)
    system.retriever.close()


def test_dead_ollama_server_is_a_clear_error(default_index):
    system = load_rag(backend="ollama", host="http://127.0.0.1:9", timeout=3, answer_mode="generate")
    t0 = time.perf_counter()
    with pytest.raises(ConnectionError, match="Ollama server at http://127.0.0.1:9 does not answer"):
        system.answer("When was riluzole approved?", GenerationConfig.greedy())
    assert time.perf_counter() - t0 < 15
    system.retriever.close()


def test_key_entities():
    assert grounding.key_entities("What does tofersen target in SOD1 ALS?") == ["tofersen", "SOD1"]
    assert grounding.key_entities("Is NCT04856982 recruiting?") == ["NCT04856982"]
    assert grounding.key_entities("How is TDP-43 involved in ALS?") == ["TDP-43"]
    assert grounding.key_entities("What causes muscle weakness in ALS?") == []
    assert grounding.missing_entities("How is TDP-43 involved?", ["TDP43 aggregates in neurons"]) == []


class _NoGeneration(LlamaCpp):
    """Stands in where a test must prove the LLM is never called (extractive mode)."""

    def __init__(self):
        self.n_ctx = 2048

    def count_tokens(self, text):
        return len(text.split())

    def chat(self, *a, **kw):
        raise AssertionError("the generator must not run in extractive mode")

    def close(self):
        pass


@pytest.mark.slow
def test_alslm_ask_prints_answer_and_sources(default_index, capsys):
    from alslm_ml.serve import ask

    assert ask.main(["--system", "rag", "--max-tokens", "48", "What does tofersen target?"]) == 0
    out = capsys.readouterr().out
    answer, sources = out.split("\nSources:\n")
    assert grounding.CITATION.search(answer) and "SOD1" in answer
    assert "[1] " in sources and "https://example.org/alslm/" in sources
