#!/usr/bin/env bash
# The GPU arm in one short run (about 8 minutes on one H100/H200; issue 10). From the repo root
# on the GPU machine, after the wheels it lacks are installed (DEVELOPERS.md: `bash
# ../shared/gpu/make-wheels.sh` here, `.whl` carried, installed to /tmp/site there):
#
#   bash benchmarks/gpu_check.sh            # prints each figure; logs under $OUT (default /tmp/gpu_check)
#
# 1. tokens/s and MFU of the model_checkpoint asset's own launcher path, shipped `500m` preset,
#    next to the nanoGPT-style reference at the same micro batch (bench_train.py --launcher);
# 2. resume after SIGKILL under the launcher (launcher_resume.py, `tiny` preset);
# 3. LoRA step time at the seed's settings in bf16, SmolLM2-135M's shape, and one greedy answer;
# 4. the shipped `1b` preset through the launcher, if at least 3 minutes of the budget are left.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"
OUT=${OUT:-/tmp/gpu_check}
BUDGET=${GPU_CHECK_BUDGET_S:-470}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
status=0
step() {  # step NAME TIMEOUT_S CMD...: run with a timeout, keep its log, report the exit code
  local name=$1 limit=$2; shift 2
  echo "== $name (limit ${limit}s, ${SECONDS}s elapsed)"
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  grep -E "^(launcher path|fit plan|implementation|alslm|launcher path \(|nanoGPT|killed|resume after|device|seconds/step|one greedy)" "$OUT/$name.log" \
    || tail -n 5 "$OUT/$name.log"
  [ $rc -eq 0 ] || { echo "   $name exited $rc (log: $OUT/$name.log)"; status=1; }
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
$PY -c "import torch, deepspeed; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'deepspeed', deepspeed.__version__)"
echo "TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-unset} (normalised for DeepSpeed by alslm_ml.train.launch)"
step train_500m 240 $PY benchmarks/bench_train.py --config 500m --launcher --steps 60
step resume 180 $PY benchmarks/launcher_resume.py --config tiny --steps 300 --kill-after 100 --timeout 80
step lora 90 $PY benchmarks/bench_lora.py --random-init --steps 10 --micro-batch 4 --grad-accum 4 --seq-len 256 --answer-tokens 128
if [ $((BUDGET - SECONDS)) -ge 180 ]; then
  step train_1b $((BUDGET - SECONDS)) $PY benchmarks/bench_train.py --config 1b --launcher --steps 30 --skip-reference
else
  echo "== train_1b skipped: $((BUDGET - SECONDS)) s of the ${BUDGET} s budget left"
fi
echo "gpu_check: done in ${SECONDS}s, status $status"
exit $status
