"""SmolLM2 as a judge of which sentence answers a question (rag.rerank), on real llama.cpp and the
shipped GGUF, with sentences of the repo's mini corpus."""

import math

import pytest

from alslm_ml.rag import grounding
from alslm_ml.rag.rerank import PROMPTS, LMJudge, rerank, zscores

pytest.importorskip("llama_cpp")

# Sentences of tests/fixtures/rag/mini_corpus.jsonl (the tofersen document).
BINDS = ("Tofersen binds SOD1 mRNA and triggers its degradation by the enzyme RNase H, which reduces "
         "production of the SOD1 protein.")
INJECTED = ("Because such molecules do not cross the blood-brain barrier in useful amounts, tofersen is injected "
            "directly into the cerebrospinal fluid by lumbar puncture, an intrathecal injection.")
ENROLLED = "It enrolled 108 adults with SOD1 ALS, randomized 2:1 to tofersen 100 mg or placebo for 28 weeks."
ENDPOINT = ("In that group the difference between tofersen and placebo was small and not statistically "
            "significant, so VALOR did not meet its primary endpoint.")


@pytest.fixture(scope="module")
def judge():
    j = LMJudge(n_threads=1)
    yield j
    j.close()


@pytest.mark.slow
def test_the_sentence_that_answers_makes_the_question_likelier(judge):
    how = judge.question_logprob("How is tofersen given to patients?", [BINDS, INJECTED, ENROLLED, ENDPOINT])
    assert how[1] == max(how)
    what = judge.question_logprob("What does tofersen bind?", [ENROLLED, INJECTED, BINDS, ENDPOINT])
    assert what[2] == max(what)
    assert all(-20 < x < 0 for x in how + what)  # mean log-probabilities per token


@pytest.mark.slow
def test_scores_do_not_depend_on_the_order_or_the_cache(judge):
    """The kept prompt prefix (llama.cpp cache) must not leak from one sentence into the next."""
    q = "How many adults did the VALOR trial enrol?"
    a = judge.question_logprob(q, [BINDS, ENROLLED, ENDPOINT])
    judge.cache.clear()
    b = judge.question_logprob(q, [ENDPOINT, ENROLLED, BINDS])[::-1]
    assert a == pytest.approx(b, abs=1e-3)


@pytest.mark.slow
def test_select_sentences_quotes_the_judges_choice_first(judge):
    q = "How is tofersen given to patients?"
    passages = [f"{ENROLLED} {ENDPOINT}", f"{BINDS} {INJECTED}"]
    count = judge.scorer.encode
    judged = grounding.select_sentences(q, passages, 200, lambda t: len(count(t)), fill=False,
                                        judge=judge.reranker(q, weight=math.inf, top=4))
    assert judged[0].text == INJECTED


def test_rerank_adds_the_weighted_z_score_to_the_top_sentences_only():
    sents = [grounding.Sentence(1, i, t, s) for i, (t, s) in enumerate([("a", 3.0), ("b", 2.0), ("c", 1.0), ("d", 0.0)])]
    rerank(sents, lambda texts: [{"a": -2.0, "b": 0.0, "c": 2.0}[t] for t in texts], weight=1.0, top=3)
    z = zscores([-2.0, 0.0, 2.0])
    assert [s.score for s in sents] == pytest.approx([3.0 + z[0], 2.0, 1.0 + z[2], 0.0])
    assert sents[3].score == 0.0  # no term match: never judged, never raised


def test_rerank_with_infinite_weight_orders_by_the_judge_above_the_rest():
    sents = [grounding.Sentence(1, i, t, s) for i, (t, s) in enumerate([("a", 3.0), ("b", 2.0), ("c", 1.0)])]
    rerank(sents, lambda texts: [{"a": -1.0, "b": 1.0}[t] for t in texts], weight=math.inf, top=2)
    assert sents[1].score > sents[0].score > sents[2].score


def test_unknown_prompt_is_refused_with_the_accepted_ones():
    with pytest.raises(ValueError, match="plain"):
        LMJudge(prompt="nope")
    assert {"plain", "chat", "answers"} <= set(PROMPTS)
