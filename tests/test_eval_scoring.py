"""Scoring functions on hand-made answers."""

import pandas as pd
import pytest

from alslm_ml.eval.benchmark import Question
from alslm_ml.eval.entities import Registry, build_registry, extract_entities
from alslm_ml.eval.scoring import (
    coherence,
    fact_scores,
    hedging_markers,
    is_refusal,
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
