"""Scoring functions on hand-made answers."""

import pandas as pd
import pytest

from alslm_ml.benchmark import Question
from alslm_ml.eval.entities import Registry, build_registry, extract_entities
from alslm_ml.eval.scoring import (
    coherence,
    fact_scores,
    hedging_markers,
    is_negated,
    is_refusal,
    key_fact_status,
    match_key_facts,
    score_answer,
    windows,
)
from alslm_ml.eval.taxonomy import classify

RILUZOLE = Question("drug-x", "drug_treatment", "easy", "How does riluzole work?",
                    "It reduces glutamate excitotoxicity and blocks sodium channels.",
                    ("glutamate", "excitotoxicity", "sodium channel", "presynaptic release"), "Rilutek label")
TRAP = Question("drug-t", "drug_treatment", "hard", "What is the dose of Neurovaxin-7 for ALS?",
                "No such drug.", ("not aware", "riluzole"), "trap", True)
TEMPORAL = Question("temp-x", "temporal_accuracy", "medium", "Is Relyvrio still available?",
                    "No, withdrawn in 2024 after PHOENIX.", ("withdrawn", "2024", "PHOENIX"), "Amylyx")
GENETICS = Question("gene-x", "gene_mutation", "easy", "Which gene is most often mutated in familial ALS?",
                    "C9orf72 repeat expansion.", ("C9orf72", "repeat expansion", "familial"), "Renton 2011")


def test_windows_overlap_and_cover_text():
    text = "".join(chr(97 + i % 26) for i in range(260))
    ws = windows(text)
    assert all(len(w) == 100 for w in ws) and ws[0] == text[:100] and ws[-1] == text[-100:]
    assert ws[1] == text[50:150]
    assert windows("short") == ["short"]


def test_key_facts_fuzzy_paraphrase_and_threshold():
    ans = "Riluzole lowers Glutamate-driven excito-toxicity; it also blocks voltage-gated sodium channels."
    assert match_key_facts(ans, RILUZOLE.key_facts) == [True, True, True, False]
    assert fact_scores("nothing relevant here", ["glutamate"])[0] < 80
    # A fact far into a long answer is still found (windowing), and the threshold is configurable.
    long_ans = "ALS care. " * 40 + "the excitotoxicity hypothesis"
    assert match_key_facts(long_ans, ["excitotoxicity"]) == [True]
    assert match_key_facts("excitotoxcity", ["excitotoxicity"], threshold=99) == [False]
    assert match_key_facts("excitotoxcity", ["excitotoxicity"], threshold=80) == [True]


def test_accuracy_and_pass_rule():
    reg = Registry()
    half = score_answer(RILUZOLE, "It reduces glutamate excitotoxicity.", reg)
    assert half.accuracy == 0.5 and half.passed
    quarter = score_answer(RILUZOLE, "It acts on glutamate in the brain.", reg)
    assert quarter.accuracy == 0.25 and not quarter.passed


def test_hedging_markers():
    assert hedging_markers("Riluzole is thought to reduce glutamate and may possibly help.") == ["may", "possibly", "is thought to"]
    assert hedging_markers("Riluzole reduces glutamate release.") == []


@pytest.mark.parametrize("text,refused", [
    ("I am not aware of any drug called Neurovaxin-7.", True),
    ("There is no such drug approved for ALS.", True),
    ("Neurovaxin-7 does not exist.", True),
    ("It is not FDA-approved for ALS.", True),
    ("There is no evidence this compound was ever tested.", True),
    ('The retrieved sources do not mention "Neurovaxin-7", so they cannot answer this question. I will not guess.', True),
    ("The context does not contain enough information to answer.", True),
    ("Neurovaxin-7 is given at 50 mg twice daily with food.", False),
    ("The usual dose is 10 mg per kilogram.", False),
])
def test_refusal_detection(text, refused):
    assert is_refusal(text) is refused


def test_coherence_flags_degenerate_text():
    assert coherence("").reason == "empty"
    assert coherence("   \n ...").degenerate
    loop = "the motor neurons die and " * 12
    assert coherence(loop).reason == "repetition"
    salad = "xq zzkv ptrr 12a# ,,, bbbq kkk lll qwrtp"
    assert coherence(salad).reason == "token_salad"
    ok = coherence("Riluzole reduces glutamate excitotoxicity and modestly prolongs survival in ALS.")
    assert not ok.degenerate and ok.score > 0.9


def test_entity_extraction_rules():
    text = ("Mutations in SOD1, C9orf72 and FUS (but not ALS or FDA or MRI) were studied in NCT04297683; "
            "patients took riluzole, zorbimab and the drug Kelvoxa. The A4V variant, TDP-43 and DNA.")
    got = {(e.kind, e.text) for e in extract_entities(text)}
    assert {("gene", "SOD1"), ("gene", "C9orf72"), ("gene", "FUS"), ("gene", "TDP-43"), ("trial", "NCT04297683"),
            ("drug", "riluzole"), ("drug", "zorbimab"), ("drug", "Kelvoxa")} <= got
    texts = {t for _, t in got}
    assert not texts & {"ALS", "FDA", "MRI", "DNA", "A4V"}
    assert not extract_entities("Patients often worsen between visits; the screen was chosen.")


def test_registry_from_corpus_marks_fabrications():
    corpus = pd.DataFrame({"id": ["d1"], "source": ["starter"], "title": ["Trial NCT01234567"],
                           "text": ["The KIF5A gene and the drug bosutinib were studied in NCT01234567."]})
    reg_frame = build_registry(corpus)
    assert {"kif5a", "bosutinib", "nct01234567"} <= set(reg_frame["entity"])
    assert set(reg_frame["origin"]) == {"corpus", "curated"}
    reg = Registry(reg_frame)
    ans = "Treatment with bosutinib (NCT01234567) targets KIF5A; fantazumab in NCT99999999 targets MNDX4."
    s = score_answer(GENETICS, ans, reg)
    assert {e["text"] for e in s.unknown_entities} == {"fantazumab", "NCT99999999", "MNDX4"}
    assert s.n_entities == 6
    with pytest.raises(ValueError, match="'text'"):
        build_registry(pd.DataFrame({"body": ["x"]}))


def test_entities_named_in_the_question_are_not_fabrications():
    s = score_answer(TRAP, "Neurovaxin-7 is usually given at 20 mg daily.", Registry())
    assert s.entities and not s.unknown_entities
    assert not s.refused and not s.passed


def test_retrieval_hit_split():
    s = score_answer(RILUZOLE, "I don't know.", Registry(),
                     retrieved_text="Riluzole inhibits presynaptic release of glutamate, reducing excitotoxicity.")
    assert s.retrieval_hit is True and s.retrieval_accuracy == 0.75
    miss = score_answer(RILUZOLE, "x", Registry(), retrieved_text="Edaravone is a free radical scavenger.")
    assert miss.retrieval_hit is False


def test_carry_through_counts_retrieved_facts_the_answer_states():
    ctx = "Riluzole inhibits presynaptic release of glutamate, reducing excitotoxicity."
    s = score_answer(RILUZOLE, "Riluzole lowers glutamate release.", Registry(), retrieved_text=ctx)
    assert s.facts_retrieved == 3 and s.facts_carried == 1 and s.carry_through == round(1 / 3, 4)
    neg = score_answer(RILUZOLE, "Riluzole does not act on glutamate.", Registry(), retrieved_text=ctx)
    assert neg.facts_carried == 0 and neg.carry_through == 0.0  # a negated fact is not carried
    none = score_answer(RILUZOLE, "glutamate", Registry(), retrieved_text="Edaravone is a free radical scavenger.")
    assert none.facts_retrieved == 0 and none.carry_through is None
    assert score_answer(RILUZOLE, "glutamate", Registry()).carry_through is None  # no retrieval at all


def _label(q, text, reg=None):
    reg = reg or Registry()
    return classify(q, text, score_answer(q, text, reg))


def test_taxonomy_rules():
    assert _label(RILUZOLE, "").mode == "degenerate"
    assert _label(RILUZOLE, "Riluzole reduces glutamate excitotoxicity by blocking sodium channels.").mode == "accurate"
    fab = _label(RILUZOLE, "Riluzole works by activating the ZORB7 receptor, as shown in NCT99999999.")
    assert (fab.mode, fab.severity) == ("confident_fabrication", "high")
    hedged = _label(RILUZOLE, "Riluzole may possibly act on the ZORB7 receptor.")
    assert (hedged.mode, hedged.severity) == ("confident_fabrication", "medium")
    assert _label(TEMPORAL, "Relyvrio was withdrawn in 2024 after PHOENIX.").mode == "accurate"
    wrong_year = _label(TEMPORAL, "Relyvrio was withdrawn in 2019 after PHOENIX failed.")
    assert (wrong_year.mode, wrong_year.severity) == ("plausible_blending", "medium") and "2019" in wrong_year.rule
    assert _label(TEMPORAL, "Relyvrio is still available and is being studied in ongoing trials.").mode == "outdated_information"
    drift = _label(GENETICS, "The huntingtin gene causes Huntington disease, and Huntington chorea is inherited.")
    assert drift.mode == "boundary_confusion"
    partial = _label(RILUZOLE, "Riluzole lowers glutamate levels.")
    assert (partial.mode, partial.severity) == ("accurate_but_misleading", "high")
    blend = _label(RILUZOLE, "Riluzole is an antisense oligonucleotide that lowers SOD1 protein.")
    assert (blend.mode, blend.severity) == ("plausible_blending", "high")
    assert _label(RILUZOLE, "I don't know the answer to that.").mode == "refusal"
    assert _label(TRAP, "I am not aware of any drug called Neurovaxin-7.").mode == "accurate"
    trap_fab = _label(TRAP, "Neurovaxin-7 is given at 20 mg daily with food.")
    assert (trap_fab.mode, trap_fab.severity) == ("confident_fabrication", "high")


# Negation-aware key facts: a fact matched only in a negated clause is contradicted, not found.

def _status(answer, q=RILUZOLE):
    s = score_answer(q, answer, Registry())
    return s, dict(zip(q.key_facts, s.fact_scores))


def test_negated_fact_is_not_counted():
    s, scores = _status("Riluzole does not reduce glutamate.")
    assert s.facts_negated == ["glutamate"] and "glutamate" in s.facts_missing and s.facts_found == []
    assert scores["glutamate"] == 100.0  # the published-method score itself is unchanged
    assert match_key_facts("Riluzole does not reduce glutamate.", ["glutamate"]) == [True]
    for text in ("Riluzole doesn't act on glutamate.", "Riluzole doesn’t act on glutamate.",
                 "Riluzole doesnt act on glutamate.", "Riluzole never lowers glutamate.",
                 "Riluzole failed to lower glutamate.", "Riluzole has no effect on glutamate."):
        assert _status(text)[0].facts_negated == ["glutamate"], text


def test_cue_inside_the_matched_span():
    q = Question("x-1", "drug_treatment", "easy", "What does riluzole do?", "Riluzole reduces glutamate release.",
                 ("reduces glutamate release",), "label")
    assert is_negated("riluzole reduces no glutamate release", 9, 37)
    s = score_answer(q, "Riluzole reduces no glutamate release.", Registry())
    assert s.fact_scores[0] >= 80 and s.facts_negated == ["reduces glutamate release"]


def test_negation_far_away_or_in_another_clause_still_counts():
    for text in ("There is no cure, but riluzole reduces glutamate.",
                 "There is no cure; riluzole reduces glutamate.",
                 "No. Riluzole reduces glutamate.",
                 "Although it is not a cure, riluzole reduces glutamate.",
                 "Riluzole is no cure but lowers glutamate.",  # "but" ends the clause, no comma needed
                 "It is not the main drug that people with ALS take to lower glutamate.",  # cue 5+ words away
                 "Riluzole not only reduces glutamate, it also blocks sodium channels.",
                 "Its effect is not exclusively on glutamate."):
        s, _ = _status(text)
        assert "glutamate" in s.facts_found and not s.facts_negated, text
    assert not is_negated("there is no cure, but riluzole reduces glutamate", 39, 48)
    assert is_negated("there is no cure and riluzole reduces glutamate", 38, 47) is False  # 5 words away
    assert is_negated("there is no riluzole to reduce glutamate", 31, 40)


def test_fact_stated_positively_once_counts_even_if_negated_elsewhere():
    text = ("Riluzole reduces glutamate excitotoxicity in motor neurons. In muscle tissue, by contrast, "
            "the drug does not change glutamate levels at all.")
    assert len(windows(text.lower())) > 1
    s, _ = _status(text)
    assert {"glutamate", "excitotoxicity"} <= set(s.facts_found) and not s.facts_negated
    # Both mentions in one 100-character window: the second occurrence is still checked.
    for text in ("It does not block glutamate receptors, it reduces glutamate release.",
                 "It reduces glutamate release, it does not block glutamate receptors."):
        s, _ = _status(text)
        assert "glutamate" in s.facts_found and not s.facts_negated, text


def test_fact_that_carries_its_own_negation_matches_a_negative_answer():
    cure = Question("x-2", "drug_treatment", "easy", "Can ALS be cured?", "There is no cure; riluzole modestly slows it.",
                    ("no cure", "riluzole"), "label")
    s = score_answer(cure, "There is no cure for ALS, though riluzole modestly slows it.", Registry())
    assert s.facts_found == ["no cure", "riluzole"] and s.passed
    # Exempt because the fact carries a cue, with or without a reference answer to compare with.
    assert key_fact_status("There is no cure for ALS.", ["no cure"]) == [(100.0, "found")]
    assert key_fact_status("Riluzole is not the cure.", ["is not the cure"])[0][1] == "found"


def test_fact_the_reference_itself_negates_is_not_a_contradiction():
    trial = Question("x-3", "clinical_trials", "medium", "Did VALOR meet its primary endpoint?",
                     "VALOR did not meet its primary endpoint.", ("did not meet", "primary endpoint"), "NEJM")
    s = score_answer(trial, "No. The VALOR trial did not meet its primary endpoint.", Registry())
    assert s.facts_found == ["did not meet", "primary endpoint"] and not s.facts_negated
    # The same answer contradicts a reference that states the fact positively.
    met = Question("x-4", "clinical_trials", "medium", "Did X meet its primary endpoint?",
                   "X met its primary endpoint.", ("primary endpoint",), "paper")
    assert score_answer(met, "X did not meet its primary endpoint.", Registry()).facts_negated == ["primary endpoint"]


def test_negation_changes_accuracy_and_pass():
    reg = Registry()
    positive = score_answer(RILUZOLE, "It reduces glutamate excitotoxicity.", reg)
    assert positive.accuracy == 0.5 and positive.passed
    negated = score_answer(RILUZOLE, "It does not reduce glutamate excitotoxicity.", reg)
    assert negated.facts_negated == ["glutamate", "excitotoxicity"]
    assert negated.accuracy == 0.0 and not negated.passed
    assert negated.to_dict()["facts_negated"] == ["glutamate", "excitotoxicity"]
    assert key_fact_status("It does not reduce glutamate.", ["glutamate"], negation=False) == [(100.0, "found")]


def test_trap_questions_ignore_negation():
    s = score_answer(TRAP, "I am not aware of Neurovaxin-7; it is not riluzole and no dose exists.", Registry())
    assert s.refused and s.passed and s.accuracy == 1.0
    assert s.facts_negated == [] and set(s.facts_found) == {"not aware", "riluzole"}


def test_taxonomy_labels_a_contradicted_fact():
    lab = _label(RILUZOLE, "Riluzole does not reduce glutamate.")
    assert (lab.mode, lab.severity) == ("confident_fabrication", "high") and "'glutamate'" in lab.rule
    hedged = _label(RILUZOLE, "Riluzole probably does not reduce glutamate.")
    assert (hedged.mode, hedged.severity) == ("confident_fabrication", "medium")
    # Without the negation the same words are a partial, correct answer.
    assert _label(RILUZOLE, "Riluzole reduces glutamate.").mode == "accurate_but_misleading"
    # Denying the current status while asserting an older one is outdated information.
    old = _label(TEMPORAL, "Relyvrio was not withdrawn; it is still available.")
    assert (old.mode, old.severity) == ("outdated_information", "medium") and "'withdrawn'" in old.rule
    wrong = _label(TEMPORAL, "Relyvrio was never withdrawn from the market.")
    assert (wrong.mode, wrong.severity) == ("confident_fabrication", "high")
    # A passing answer stays accurate even if one other fact is negated.
    ok = _label(RILUZOLE, "It reduces glutamate excitotoxicity and sodium channel activity, not presynaptic release.")
    assert ok.mode == "accurate"
