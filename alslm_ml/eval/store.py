"""The evaluation tables in the warehouse. Per-question rows are stored once, in the normalized
alslm.eval_responses / eval_scores / eval_fabrications / eval_taxonomy tables (joined on system,
question_id); `eval_answers` is a view joining them for browsing in SQL. Each eval_* asset's own
table holds one summary row per evaluated system (`summary_frame`)."""

from __future__ import annotations

import pandas as pd

from alslm_ml.warehouse import SCHEMA, delete_insert, transaction

ANSWERS_VIEW = f"""
CREATE OR REPLACE VIEW {SCHEMA}.eval_answers AS
SELECT r.system, r.question_id, r.category, r.difficulty, r.is_trap, s.accuracy, s.passed, t.mode, t.severity,
       s.hedged, s.refused, s.degenerate, s.coherence, s.n_entities, s.n_unknown, s.retrieval_hit,
       s.facts_negated, r.seconds, r.error, r.answer
FROM {SCHEMA}.eval_responses r
JOIN {SCHEMA}.eval_scores s USING (system, question_id)
JOIN {SCHEMA}.eval_taxonomy t USING (system, question_id)
"""
SUMMARY_COLUMNS = ["n", "mean_accuracy", "non_trap_accuracy", "pass_rate", "fabrication_rate", "contradiction_rate",
                   "trap_refusal_rate", "degenerate_rate", "hedging_rate", "mean_coherence", "capability_gap",
                   "mean_answer_tokens", "mean_seconds", "errors"]


def store_results(con, frames: dict[str, pd.DataFrame], systems: list[str]) -> None:
    """Replace these systems' rows in alslm.eval_{responses,scores,fabrications,taxonomy} (all four
    tables, or none: a failing insert keeps the old rows) and (re)create the eval_answers view."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    with transaction(con):
        for name, frame in frames.items():
            delete_insert(con, f"{SCHEMA}.eval_{name}", frame,
                          "CAST(system AS VARCHAR) IN (SELECT unnest(?::VARCHAR[]))", [systems])
    con.execute(ANSWERS_VIEW)


def headline(summaries: dict[str, dict]) -> dict[str, dict]:
    """system -> its SUMMARY_COLUMNS figures."""
    return {k: {m: s.get(m) for m in SUMMARY_COLUMNS} for k, s in summaries.items()}


def summary_frame(summaries: dict[str, dict]) -> pd.DataFrame:
    """One row per evaluated system with its headline metrics (the eval_* asset's table)."""
    frame = pd.DataFrame([{"system": k, **v} for k, v in headline(summaries).items()], columns=["system", *SUMMARY_COLUMNS])
    return frame.astype({c: "float64" for c in SUMMARY_COLUMNS if c not in ("n", "errors")})
