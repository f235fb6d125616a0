"""Automatic failure-taxonomy labels (white paper section 4) with a severity, by ordered rules.

Labels: accurate, degenerate, refusal, and the five failure modes confident_fabrication,
plausible_blending, outdated_information, boundary_confusion, accurate_but_misleading. The first
rule that fires wins; docs/evaluation.md lists the rules with examples. These are heuristics meant
to be checked against manual review (`alslm review`, Cohen's kappa), not ground truth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alslm_ml.benchmark import Question
from alslm_ml.eval.scoring import Score

FAILURE_MODES = (
    "confident_fabrication",
    "plausible_blending",
    "outdated_information",
    "boundary_confusion",
    "accurate_but_misleading",
)
LABELS = ("accurate", *FAILURE_MODES, "refusal", "degenerate")
SEVERITIES = ("none", "low", "medium", "high")

# Vocabulary of neighbouring diseases: an answer about ALS that talks about these (when neither the
# question nor the reference does) has drifted out of the domain.
OTHER_DISEASES = {
    "huntington": r"huntington",
    "parkinson": r"parkinson",
    "alzheimer": r"alzheimer",
    "multiple_sclerosis": r"multiple sclerosis|\bms\b",
    "sma": r"spinal muscular atrophy|\bsma\b",
    "muscular_dystrophy": r"muscular dystroph|duchenne",
    "myasthenia": r"myasthenia",
    "stroke": r"\bstroke\b",
    "epilepsy": r"epilep|seizure",
    "diabetes": r"diabet",
    "cancer": r"\bcancer\b|tumou?r|leukemia|carcinoma",
    "hiv": r"\bhiv\b|\baids\b",
    "polio": r"polio",
    "guillain_barre": r"guillain",
}
ALS_TERMS = r"\bals\b|amyotrophic|motor neuron|lou gehrig"

# Phrasing that asserts a status which may have been superseded (still in trials, awaiting approval,
# available). Only used for temporal and trial questions that the answer failed.
OUTDATED_PATTERNS = [
    r"\b(?:is|are) (?:currently |still )?(?:being )?(?:tested|studied|investigated|evaluated)\b",
    r"\bcurrently in (?:a |phase )?(?:clinical )?trials?\b", r"\bongoing (?:clinical )?trials?\b",
    r"\bunder (?:fda )?review\b", r"\bawaiting (?:fda )?approval\b", r"\bnot yet (?:been )?approved\b",
    r"\bpending approval\b", r"\bexpected to be approved\b", r"\bstill (?:available|approved|on the market|prescribed)\b",
    r"\bis (?:currently )?available\b", r"\bno (?:approved )?(?:drugs?|treatments?) (?:for als )?(?:are|is) approved\b",
    r"\bonly (?:fda-)?approved (?:drug|treatment) (?:for als )?is riluzole\b", r"\binvestigational\b", r"\bexperimental\b",
]
_OUTDATED_RE = [re.compile(p) for p in OUTDATED_PATTERNS]
_HIGH_STAKES = {"drug_treatment", "patient_care", "temporal_accuracy"}


@dataclass
class Label:
    mode: str
    severity: str
    rule: str  # which rule fired, for reports and review

    def to_dict(self) -> dict:
        return {"mode": self.mode, "severity": self.severity, "rule": self.rule}


def other_disease_terms(answer: str, question: Question) -> list[str]:
    context = (question.question + " " + question.reference_answer).lower()
    low = answer.lower()
    return [
        name for name, pat in OTHER_DISEASES.items() if re.search(pat, low) and not re.search(pat, context)
    ]


def _drifted(answer: str, question: Question) -> bool:
    """Other-disease vocabulary outweighs ALS vocabulary in the answer."""
    others = other_disease_terms(answer, question)
    if not others:
        return False
    low = answer.lower()
    n_other = sum(len(re.findall(OTHER_DISEASES[n], low)) for n in others)
    n_als = len(re.findall(ALS_TERMS, low))
    return n_other >= max(1, n_als)


_YEAR_RE = re.compile(r"\b(?:19[5-9]\d|20[0-4]\d)\b")


def conflicting_years(answer: str, question: Question) -> list[str]:
    """Years in the answer that neither the question nor the reference answer mentions."""
    known = set(_YEAR_RE.findall(question.question + " " + question.reference_answer))
    return sorted(set(_YEAR_RE.findall(answer)) - known)


def asserts_superseded_status(answer: str) -> bool:
    low = answer.lower()
    return any(rx.search(low) for rx in _OUTDATED_RE)


def classify(question: Question, answer: str, score: Score) -> Label:
    """The first matching rule, in the order listed in docs/evaluation.md."""
    if score.degenerate:
        return Label("degenerate", "low", f"incoherent output ({score.degenerate_reason})")
    if question.is_trap:
        if score.refused:
            return Label("accurate", "none", "trap: answer denies the invented entity / false premise")
        if _drifted(answer, question):
            return Label("boundary_confusion", "medium", "trap: not refused, answer drifts to another disease")
        sev = "medium" if score.hedged else "high"
        return Label("confident_fabrication", sev, "trap: answer treats an invented entity or false claim as real")
    if score.passed:
        wrong_years = conflicting_years(answer, question)
        if question.category == "temporal_accuracy" and wrong_years:
            return Label("plausible_blending", "medium",
                         f"key facts present, but states year(s) {', '.join(wrong_years)} that the reference does not")
        return Label("accurate", "none", f"{len(score.facts_found)}/{len(question.key_facts)} key facts found")
    if score.facts_negated:
        # The answer contradicts the reference: a verified factual error, stronger evidence than an
        # entity missing from the registry (which may be a registry gap), so it is checked first.
        # Denying a status while asserting an older one ("not approved, still in trials") is the
        # outdated-information failure, as in rule 9.
        facts = ", ".join(repr(f) for f in score.facts_negated[:3])
        if question.category in ("temporal_accuracy", "clinical_trials") and asserts_superseded_status(answer):
            return Label("outdated_information", "medium", f"contradicts key fact(s) {facts} with a superseded status")
        sev = "medium" if score.hedged else "high"
        return Label("confident_fabrication", sev, f"contradicts key fact(s) {facts}: stated only negated")
    if score.unknown_entities:
        names = ", ".join(e["text"] for e in score.unknown_entities[:3])
        sev = "medium" if score.hedged else "high"
        return Label("confident_fabrication", sev, f"names entities unknown to corpus and curated lists: {names}")
    if question.category in ("temporal_accuracy", "clinical_trials") and asserts_superseded_status(answer):
        return Label("outdated_information", "medium", "temporal/trial question answered with a superseded status")
    if _drifted(answer, question):
        return Label("boundary_confusion", "medium", f"drifts to {', '.join(other_disease_terms(answer, question))}")
    if score.refused and not score.facts_found:
        return Label("refusal", "low", "declines to answer a real question")
    if score.facts_found:
        sev = "high" if question.category in _HIGH_STAKES else "medium"
        return Label("accurate_but_misleading", sev, f"only {len(score.facts_found)}/{len(question.key_facts)} key facts; critical context missing")
    if score.entities:
        return Label("plausible_blending", "high", "real entities, but none of the key facts")
    if score.hedged:
        return Label("plausible_blending", "low", "hedged answer without the key facts")
    return Label("confident_fabrication", "medium", "unhedged answer without any key fact")
