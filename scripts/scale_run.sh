#!/usr/bin/env bash
# Scale run of the corpus lineage on a generated corpus (default 1 GB) through the real assets:
# raw_documents -> clean_documents -> corpus -> corpus_splits -> corpus_stats -> tokenizer ->
# tokenized_corpus (+ vector_index on a slice with --index-documents N). Stage times and peak RSS
# are printed and written to $ALSLM_DATA_DIR/scale_run.json (default /tmp/alslm_scale).
#   bash scripts/scale_run.sh --mb 1000 --index-documents 2000
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec .venv/bin/python benchmarks/scale_run.py --data-dir "${ALSLM_DATA_DIR:-/tmp/alslm_scale}" "$@"
