#!/usr/bin/env bash
# Create .venv in the repo root and install ALS-LM into it. Idempotent: a second run is quick.
# On a machine without CUDA, torch==2.13.0 (a CPU build) is installed first so pip never pulls the
# multi-GB CUDA wheel. Set ALSLM_TORCH="torch==X.Y.Z" to choose another torch (e.g. a CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PY"
  "$PY" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip setuptools wheel
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if [ -n "${ALSLM_TORCH:-}" ]; then TORCH_SPEC="$ALSLM_TORCH"
  elif command -v nvidia-smi >/dev/null 2>&1; then TORCH_SPEC="torch"
  else TORCH_SPEC="torch==2.13.0"; fi
  echo "==> installing $TORCH_SPEC"
  $PIP install -q "$TORCH_SPEC"
fi
# DeepSpeed ships as an sdist whose setup imports torch: build it against the torch above,
# with no ops pre-compiled (they JIT-compile on first use).
if ! .venv/bin/python -c "import deepspeed" 2>/dev/null; then
  echo "==> installing deepspeed (no build isolation, ops JIT-compiled on first use)"
  DS_BUILD_OPS=0 $PIP install -q --no-build-isolation "deepspeed>=0.15"
fi
echo "==> installing alslm and its dependencies (llama-cpp-python compiles once, ~10 min on 2 cores)"
$PIP install -q -e ".[dev]"
echo "==> environment ready: $(.venv/bin/python -c 'import torch; print("torch", torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")')"
