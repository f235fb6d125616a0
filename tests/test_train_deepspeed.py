"""DeepSpeed under its launcher on CPU (gloo, ZeRO-2, torch AdamW as client optimizer): the same
micro run as plain PyTorch gives the same loss curve, and the checkpoint loads with load_model.
Slow: the launcher starts two Python processes and JIT-compiles a communication op on first use
(cached in TORCH_EXTENSIONS_DIR)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alslm_ml.model import load_model
from alslm_ml.train.launch import build_command

pytest.importorskip("deepspeed")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
from test_train import tokens_dir  # noqa: E402,F401  (fixture)


def _losses(run: Path) -> dict[int, float]:
    with open(run / "metrics.csv", newline="") as f:
        return {int(r["step"]): float(r["train_loss"]) for r in csv.DictReader(f)}


@pytest.mark.slow
def test_deepspeed_cpu_launcher_matches_plain_pytorch(tokens_dir, tmp_path):  # noqa: F811
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": os.environ.get(
        "TORCH_EXTENSIONS_DIR", str(Path.home() / ".cache/alslm/torch_extensions"))}
    over = ["max_steps=12", "grad_accum=2"]
    cmd = build_command("micro", tokens_dir, tmp_path / "ds", over, gpus=1)  # launcher, 1 process
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "DeepSpeed ZeRO stage 2" in out.stdout
    plain = build_command("micro", tokens_dir, tmp_path / "plain", over, gpus=0)
    subprocess.run(plain, check=True, capture_output=True, cwd=REPO, env=env, timeout=300)
    a, b = _losses(tmp_path / "ds"), _losses(tmp_path / "plain")
    assert sorted(a) == sorted(b) == list(range(1, 13))
    for s in a:  # same data, same init, same schedule; only reduction order differs
        assert a[s] == pytest.approx(b[s], abs=5e-3), s
    assert a[12] < a[1] - 0.2  # it learns
    load_model(tmp_path / "ds" / "best" / "model")
