"""SmolLM2 as a judge of which sentence answers a question (rag.rerank), on real llama.cpp and the
shipped GGUF, with sentences of the repo's mini corpus."""

import math

import pytest

from alslm_ml.rag import grounding as g
from alslm_ml.rag.rerank import PROMPTS, LMJudge, rerank, zscores

pytest.importorskip("llama_cpp")

# Sentences of tests/fixtures/rag/mini_corpus.jsonl (riluzole, tofersen, C9orf72 documents).
APPROVAL = ("The US Food and Drug Administration approved it in December 1995 under the brand name Rilutek, "
            "and European approval followed in 1996.")
MECHANISM = ("In laboratory studies riluzole inhibits the presynaptic release of glutamate, blocks voltage-gated "
             "sodium channels (in particular the persistent sodium current), and interferes with intracellular "
             "events that follow the binding of excitatory amino acids to their receptors.")
CHEMISTRY = "Riluzole belongs to the benzothiazole class of compounds."


@pytest.fixture(scope="module")
def judge():
    j = LMJudge(n_threads=1)
    yield j
    j.close()


@pytest.mark.slow
def test_the_sentence_that_answers_makes_the_question_likelier(judge):
    when = judge.question_logprob("When did the FDA approve riluzole?", [CHEMISTRY, APPROVAL, MECHANISM])
    assert when[1] > max(when[0], when[2])
    how = judge.question_logprob("How does riluzole act on glutamate release?", [APPROVAL, CHEMISTRY, MECHANISM])
    assert how[2] > max(how[0], how[1])
    assert all(-20 < x < 0 for x in when + how)  # mean log-probabilities per token


@pytest.mark.slow
def test_scores_do_not_depend_on_the_order_or_the_cache(judge):
    """The kept prompt prefix (llama.cpp cache) must not leak from one sentence into the next."""
    q = "When did the FDA approve riluzole?"
    a = judge.question_logprob(q, [CHEMISTRY, APPROVAL, MECHANISM])
    judge.cache.clear()
    b = judge.question_logprob(q, [MECHANISM, APPROVAL, CHEMISTRY])[::-1]
    assert a == pytest.approx(b, abs=1e-3)


@pytest.mark.slow
def test_the_judge_moves_the_answering_sentence_first(judge):
    """Term overlap ranks the sentences that name riluzole above the approval sentence (it says
    "it"); the judge puts the approval first."""
    q = "Which agency approved riluzole in the United States?"
    passages = [f"{CHEMISTRY} {MECHANISM}", APPROVAL]
    count = judge._tok
    plain = g.select_sentences(q, passages, 200, lambda t: len(count(t)), fill=False)
    judged = g.select_sentences(q, passages, 200, lambda t: len(count(t)), fill=False,
                                judge=judge.reranker(q, weight=math.inf, top=4))
    assert "Food and Drug" not in plain[0].text
    assert "Food and Drug" in judged[0].text


def test_rerank_adds_the_weighted_z_score_to_the_top_sentences_only():
    sents = [g.Sentence(1, i, t, s) for i, (t, s) in enumerate([("a", 3.0), ("b", 2.0), ("c", 1.0), ("d", 0.0)])]
    rerank(sents, lambda texts: [{"a": -2.0, "b": 0.0, "c": 2.0}[t] for t in texts], weight=1.0, top=3)
    z = zscores([-2.0, 0.0, 2.0])
    assert [s.score for s in sents] == pytest.approx([3.0 + z[0], 2.0, 1.0 + z[2], 0.0])
    assert sents[3].score == 0.0  # no term match: never judged, never raised


def test_rerank_with_infinite_weight_orders_by_the_judge_above_the_rest():
    sents = [g.Sentence(1, i, t, s) for i, (t, s) in enumerate([("a", 3.0), ("b", 2.0), ("c", 1.0)])]
    rerank(sents, lambda texts: [{"a": -1.0, "b": 1.0}[t] for t in texts], weight=math.inf, top=2)
    assert sents[1].score > sents[0].score > sents[2].score


def test_unknown_prompt_is_refused_with_the_accepted_ones():
    with pytest.raises(ValueError, match="plain"):
        LMJudge(prompt="nope")
    assert {"plain", "chat", "answers"} <= set(PROMPTS)
