"""Hallucination evaluation: the benchmark, scoring, fabrication detection, failure taxonomy, the
runner behind the eval_* assets and `alslm eval`, and the manual-review tool (`alslm review`).

See docs/evaluation.md for the scoring rules.
"""
