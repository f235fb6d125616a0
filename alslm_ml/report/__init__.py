"""Reports built from evaluation results (eval_comparison)."""

from alslm_ml.report.comparison import build_report

__all__ = ["build_report"]
