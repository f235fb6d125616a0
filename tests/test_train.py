"""Training stage: schedule, weight-decay groups, checkpoints (round trip, corruption, fallback),
resume after SIGKILL, early stopping, and a micro end-to-end run that beats the unigram baseline.

Data: a synthetic token stream from a sparse Markov chain (each token has 4 likely successors), so a
model that uses context must beat the unigram baseline by a wide margin.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from alslm_ml.model import GPT, get_config, load_model
from alslm_ml.train import checkpoint
from alslm_ml.train.config import load_train_config
from alslm_ml.train.data import EpochSampler, unigram_baseline
from alslm_ml.train.launch import build_command
from alslm_ml.train.optim import lr_at, make_adamw, param_groups
from alslm_ml.train.trainer import RunExists, train

REPO = Path(__file__).resolve().parent.parent
VOCAB = 256


def markov_stream(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(0)  # same chain for train and val
    succ = rng.integers(4, VOCAB, size=(VOCAB, 4))
    walk = np.random.default_rng(seed)
    out = np.empty(n, dtype=np.uint16)
    t = 4
    for i in range(n):
        out[i] = t
        t = 1 if walk.random() < 0.01 else int(succ[t, walk.integers(0, 4)])  # 1 = <|eos|>
        if t == 1:
            out[i] = 1
            t = int(walk.integers(4, VOCAB))
    return out


@pytest.fixture(scope="module")
def tokens_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tokens")
    train, val = markov_stream(30_000, 1), markov_stream(3_000, 2)
    train.tofile(d / "train.bin")
    val.tofile(d / "val.bin")
    meta = {"vocab_size": VOCAB, "dtype": "uint16", "eos_id": 1,
            "splits": {"train": {"tokens": len(train)}, "val": {"tokens": len(val)}}}
    (d / "meta.json").write_text(json.dumps(meta))
    return d


def micro(**over):
    return load_train_config("micro", [f"{k}={json.dumps(v)}" for k, v in over.items()])


def losses(run_dir: Path) -> dict[int, float]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return {int(r["step"]): float(r["train_loss"]) for r in csv.DictReader(f)}


# --- schedule and optimizer ---------------------------------------------------------------------

def test_lr_schedule_warmup_cosine_floor():
    peak, warm, total = 6e-4, 10, 110
    lrs = [lr_at(s, peak, warm, total, 0.1) for s in range(130)]
    assert lrs[0] == pytest.approx(peak / warm)
    assert all(a < b for a, b in zip(lrs[:warm], lrs[1:warm]))  # linear warmup rises
    assert lrs[warm - 1] == pytest.approx(peak)
    decay = lrs[warm:total]
    assert all(a >= b for a, b in zip(decay, decay[1:]))  # monotone cosine decay
    assert lr_at(warm + 50, peak, warm, total) == pytest.approx(peak * 0.1 + 0.5 * peak * 0.9)  # half-way
    assert lrs[total] == pytest.approx(peak * 0.1) and lrs[-1] == pytest.approx(peak * 0.1)  # 10% floor


def test_weight_decay_groups_exclude_bias_and_norm():
    model = GPT(get_config("tiny", vocab_size=VOCAB, n_layer=1, n_embd=32, n_head=2, block_size=16))
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(p.dim() >= 2 for p in decay["params"])
    assert {names[id(p)] for p in no_decay["params"]} == {n for n, p in model.named_parameters() if p.dim() == 1}
    assert any(names[id(p)] == "transformer.wte.weight" for p in decay["params"])
    n_all = sum(p.numel() for g in (decay, no_decay) for p in g["params"])
    assert n_all == model.num_params()  # the tied embedding/head counted once


# --- data ---------------------------------------------------------------------------------------

def test_sampler_is_deterministic_and_resumable(tokens_dir):
    toks = np.memmap(tokens_dir / "train.bin", dtype=np.uint16, mode="r")
    a = EpochSampler(toks, 32, seed=7)
    seq = [a.next_batch(8)[0] for _ in range(200)]  # crosses epoch boundaries (937 windows/epoch)
    b = EpochSampler(toks, 32, seed=7)
    for _ in range(150):
        b.next_batch(8)
    c = EpochSampler(toks, 32, seed=7)
    c.load_state(b.state())
    assert c.epoch >= 1
    for i in range(150, 200):
        assert torch.equal(c.next_batch(8)[0], seq[i])
    x, y = seq[0][:, 1:], EpochSampler(toks, 32, seed=7).next_batch(8)[1][:, :-1]
    assert torch.equal(x, y)  # targets are inputs shifted by one


def test_unigram_baseline_matches_definition():
    train = np.array([1, 1, 2, 3], dtype=np.uint16)
    val = np.array([1, 3], dtype=np.uint16)
    counts = np.array([0, 2, 1, 1, 0]) + 1.0
    p = counts / counts.sum()
    assert unigram_baseline(train, val, 5) == pytest.approx(-(math.log(p[1]) + math.log(p[3])) / 2)


# --- checkpoints --------------------------------------------------------------------------------

def _trained_pair():
    torch.manual_seed(0)
    model = GPT(get_config("tiny", vocab_size=VOCAB, n_layer=1, n_embd=32, n_head=2, block_size=16))
    opt = make_adamw(model, 1e-3, 0.1, (0.9, 0.95))
    x = torch.randint(0, VOCAB, (2, 16))
    _, loss = model(x, x)
    loss.backward()
    opt.step()
    return model, opt


def test_checkpoint_round_trip(tmp_path):
    model, opt = _trained_pair()
    state = {"step": 5, "sampler": {"epoch": 1, "index": 3}}
    checkpoint.save_checkpoint(tmp_path / "step_5", model, opt.state_dict(), state)
    loaded_state = checkpoint.verify(tmp_path / "step_5")
    assert loaded_state["step"] == 5 and loaded_state["sampler"] == {"epoch": 1, "index": 3}
    m2 = load_model(tmp_path / "step_5" / "model")
    for (n, p), (_, q) in zip(model.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(p, q), n
    opt_sd = checkpoint.load_optimizer_state(tmp_path / "step_5", loaded_state)
    _, opt2 = _trained_pair()
    opt2.load_state_dict(opt_sd)
    for pid, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            assert torch.equal(v, opt2.state_dict()["state"][pid][k]), (pid, k)
    assert opt2.param_groups[0]["betas"] == (0.9, 0.95)
    # only safetensors + JSON on disk: nothing to unpickle
    files = {p.name for p in (tmp_path / "step_5").rglob("*") if p.is_file()}
    assert files == {"config.json", "model.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json", "manifest.json"}
    assert not list(tmp_path.glob(".tmp-*"))  # the temp dir was renamed away


@pytest.mark.parametrize("damage", ["truncate", "garble", "no_manifest", "missing_file"])
def test_corrupt_checkpoint_detected_and_previous_used(tmp_path, damage):
    model, opt = _trained_pair()
    for s in (10, 20):
        checkpoint.save_checkpoint(tmp_path / f"step_{s}", model, opt.state_dict(), {"step": s})
    bad = tmp_path / "step_20"
    weights = bad / "model" / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:100])
    elif damage == "garble":
        raw = bytearray(weights.read_bytes())
        raw[-10] ^= 0xFF
        weights.write_bytes(bytes(raw))
    elif damage == "no_manifest":
        (bad / "manifest.json").unlink()
    else:
        (bad / "optimizer.safetensors").unlink()
    with pytest.raises(checkpoint.CorruptCheckpoint, match="step_20"):
        checkpoint.verify(bad)
    messages = []
    path, state = checkpoint.find_latest_valid(tmp_path, messages.append)
    assert path.name == "step_10" and state["step"] == 10
    assert len(messages) == 1 and "step_20 is corrupt" in messages[0]


def test_rotation_keeps_last_three(tmp_path):
    model, _ = _trained_pair()
    for s in (10, 20, 30, 40, 50):
        checkpoint.save_checkpoint(tmp_path / f"step_{s}", model, None, {"step": s})
        checkpoint.rotate(tmp_path, 3)
    assert [p.name for p in checkpoint.step_dirs(tmp_path)] == ["step_50", "step_40", "step_30"]


# --- training runs ------------------------------------------------------------------------------

def test_micro_run_beats_unigram_and_writes_artifacts(tokens_dir, tmp_path):
    run = tmp_path / "run"
    summary = train(micro(max_steps=60), tokens_dir, run, log=lambda m: None)
    assert summary["finished"] and summary["steps"] == 60
    assert summary["best_val_loss"] < summary["unigram_val_loss"] - 1.0, summary
    assert [p.name for p in checkpoint.step_dirs(run)] == ["step_60", "step_50", "step_40"]
    best = load_model(run / "best" / "model")  # loads with the shared loader
    assert best.config.n_layer == 2 and best.config.vocab_size == VOCAB
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert len(rows) == 60 and float(rows[-1]["tokens_per_s"]) > 0 and float(rows[-1]["mfu"]) > 0
    assert sum(1 for r in rows if r["val_loss"]) == 6
    assert float(rows[-1]["lr"]) == pytest.approx(lr_at(59, 3e-3, 5, 60, 0.1))  # last step's lr...
    assert float(rows[-1]["lr"]) == pytest.approx(3e-4, rel=0.01)  # ...is at the 10% cosine floor


def test_early_stopping_after_patience_evals(tokens_dir, tmp_path):
    # lr 0: val loss never improves after the first evaluation -> stop after `patience` more
    summary = train(micro(lr=0.0, max_steps=100, eval_interval=2, patience=3), tokens_dir, tmp_path, log=lambda m: None)
    assert summary["stop_reason"].startswith("early stopping") and summary["steps"] == 8
    assert summary["best_step"] == 2 and (tmp_path / "step_8").exists()


def test_resume_from_corrupt_latest_falls_back_and_matches(tokens_dir, tmp_path):
    """A run 'killed' after saving step_30 whose step_30 is corrupt resumes from step_20 and
    reproduces the uninterrupted run's losses exactly."""
    ref, run = tmp_path / "ref", tmp_path / "run"
    train(micro(max_steps=40), tokens_dir, ref, log=lambda m: None)
    shutil.copytree(ref, run)
    shutil.rmtree(run / "step_40")
    (run / "summary.json").unlink()
    w = run / "step_30" / "optimizer.safetensors"
    w.write_bytes(w.read_bytes()[:-64])  # truncated
    messages = []
    train(micro(max_steps=40), tokens_dir, run, log=messages.append)
    assert any("step_30 is corrupt" in m for m in messages)
    assert any("resumed from" in m and "step_20" in m for m in messages)
    a, b = losses(ref), losses(run)
    assert sorted(a) == sorted(b) == list(range(1, 41))
    for s in range(21, 41):
        assert b[s] == pytest.approx(a[s], abs=1e-5), s


def test_resume_after_sigkill_continues_same_curve(tokens_dir, tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    args = ["--config", "micro", "--data-dir", str(tokens_dir), "--set", "max_steps=80"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    train(micro(max_steps=80), tokens_dir, ref, log=lambda m: None)  # the uninterrupted reference, in-process
    proc = subprocess.Popen([sys.executable, "-m", "alslm_ml.train", *args, "--out-dir", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
    for line in proc.stdout:
        if line.startswith("step 25/"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "summary.json").exists(), "the run finished before it could be killed"
    latest = checkpoint.step_dirs(run)[0].name
    out = subprocess.run([sys.executable, "-m", "alslm_ml.train", *args, "--out-dir", str(run)],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:]
    assert f"resumed from {run / latest}" in out.stdout
    a, b = losses(ref), losses(run)
    assert sorted(b) == list(range(1, 81))
    resumed_at = int(latest.split("_")[1])
    assert resumed_at >= 20
    for s in range(resumed_at + 1, 81):
        assert b[s] == pytest.approx(a[s], abs=1e-5), s
    assert json.loads((run / "summary.json").read_text())["best_val_loss"] == pytest.approx(
        json.loads((ref / "summary.json").read_text())["best_val_loss"], abs=1e-5)


def test_finished_run_is_kept_unless_overwrite_archives_it(tokens_dir, tmp_path):
    run = tmp_path / "run"
    first = train(micro(max_steps=20), tokens_dir, run, log=lambda m: None)
    with pytest.raises(RunExists, match="holds a finished run; nothing was changed"):
        train(micro(max_steps=20), tokens_dir, run, log=lambda m: None)
    assert json.loads((run / "summary.json").read_text()) == first
    messages = []
    s = train(micro(max_steps=20), tokens_dir, run, log=messages.append, overwrite=True)
    assert any("archived it to" in m for m in messages) and s["steps"] == 20
    assert not any("resumed" in m for m in messages)
    archived = sorted(tmp_path.glob("run.archived-*"))
    assert len(archived) == 1 and json.loads((archived[0] / "summary.json").read_text()) == first
    assert (archived[0] / "best" / "model" / "model.safetensors").exists()


def test_config_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="unknown training option 'max_step'"):
        load_train_config("micro", ["max_step=3"])
    bad = tmp_path / "cfg.json"
    bad.write_text(json.dumps({"preset": "micro", "batchsize": 2}))
    with pytest.raises(ValueError, match="batchsize"):
        load_train_config(str(bad))
    with pytest.raises(ValueError, match="exceeds model"):
        load_train_config("micro").model_config(vocab_size=1000)


def test_launcher_commands(tmp_path):
    cpu = build_command("tiny", "/d/tokens", "/d/ck", ["max_steps=5"], gpus=0)
    assert cpu[:4] == [sys.executable, "-u", "-m", "alslm_ml.train"] and "--deepspeed" not in cpu
    gpu = build_command("500m", "/d/tokens", "/d/ck", gpus=2, deepspeed_config="ds.json")
    assert Path(gpu[0]).name == "deepspeed" and gpu[1:3] == ["--num_gpus", "2"]
    assert gpu[3:5] == ["--module", "alslm_ml.train"] and gpu[-3:] == ["--deepspeed", "--deepspeed_config", "ds.json"]
    hf = tmp_path / "hostfile"
    hf.write_text("node1 slots=8\nnode2 slots=8\n")
    multi = build_command("1b", "/d/tokens", "/d/ck", gpus=8, hostfile=str(hf))
    assert multi[1:3] == ["--hostfile", str(hf)]
    with pytest.raises(FileNotFoundError, match="hostfile"):
        build_command("1b", "/d", "/d", gpus=8, hostfile=str(tmp_path / "nope"))


def test_named_configs_print_parameter_counts(capsys):
    from alslm_ml.train import main

    for name, expect in (("500m", "494,543,360"), ("1b", "1,046,676,480")):
        assert main(["--config", name, "--print-params"]) == 0
        out = capsys.readouterr().out
        assert expect in out and "ZeRO-2 optimizer offload" in out
        assert get_config(name).num_params() == int(expect.replace(",", ""))


def test_checkpoint_weights_are_plain_safetensors(tokens_dir, tmp_path):
    train(micro(max_steps=10), tokens_dir, tmp_path, log=lambda m: None)
    sd = load_file(str(tmp_path / "step_10" / "model" / "model.safetensors"))
    assert "transformer.wte.weight" in sd and "lm_head.weight" not in sd  # tied head stored once


# --- GPU / DeepSpeed ------------------------------------------------------------------------------

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.gpu
@gpu
def test_gpu_bf16_micro_run(tokens_dir, tmp_path):
    s = train(micro(max_steps=30, device="cuda"), tokens_dir, tmp_path, log=lambda m: None)
    assert s["bf16"] and s["device"].startswith("cuda") and s["best_val_loss"] < s["unigram_val_loss"]
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert float(rows[-1]["gpu_mem_gb"]) > 0


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("stage", [2, 3])
def test_gpu_deepspeed_launcher(tokens_dir, tmp_path, stage):
    cmd = build_command("micro", tokens_dir, tmp_path, ["max_steps=20", "grad_accum=2", f"zero_stage={stage}",
                                                        "offload_optimizer=false", "gradient_checkpointing=true"], gpus=1)
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["deepspeed"] and s["bf16"] and s["steps"] == 20
    load_model(tmp_path / "best" / "model")
