"""Reports built from evaluation results (eval_comparison)."""

from alslm_ml.report.comparison import write_eval_comparison

__all__ = ["write_eval_comparison"]
