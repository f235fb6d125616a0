"""Reports built from evaluation results: `comparison.write_eval_comparison` (the eval_comparison asset)."""
