#!/usr/bin/env bash
# README command 1 (after install): materialize the whole lineage on the embedded default
# (the starter corpus shipped in the repo), offline.
set -euo pipefail
cd "$(dirname "$0")/.."
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/dagster_home}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$HOME/.cache/alslm/torch_extensions}"
DG=".venv/bin/dagster"
M="-m alslm_assets"
start=$(date +%s)
step() { echo; echo "==> [$(( $(date +%s) - start ))s] $*"; }

step "sources: starter partition (raw_documents -> clean_documents)"
$DG asset materialize $M --select raw_documents,clean_documents --partition starter

step "corpus, benchmark and instruction data (job embedded_default_data)"
$DG job execute $M -j embedded_default_data

step "LoRA experiments: every partition of lora_experiments in one run"
$DG asset materialize $M --select lora_experiments --partition-range r8...epochs3

step "training, export, retrieval, fine-tuned model, evaluation, report (job embedded_default)"
$DG job execute $M -j embedded_default

step "done in $(( $(date +%s) - start ))s"
cat <<MSG

Artifacts are under ${ALSLM_DATA_DIR:-$PWD/data}.
Browse the lineage, metadata and checks in the Dagster UI:
  DAGSTER_HOME=$DAGSTER_HOME .venv/bin/dagster dev -h 127.0.0.1 -p 3000
MSG
