"""Training checkpoints: safe to load, written atomically, verified before use.

A checkpoint is a directory:
  model/                  save_model format (config.json + model.safetensors): loads with load_model
  optimizer.safetensors   AdamW moments (tensors only)
  rng.safetensors         torch CPU/CUDA generator states
  state.json              step, tokens seen, sampler position, early-stopping state, optimizer hyper-
                          parameters, the training config: plain numbers and strings
  manifest.json           sha256 and size of every file above, written last

Nothing is unpickled on load (safetensors + JSON only). A checkpoint is built in a temp directory
and renamed into place, so a kill mid-save leaves the previous checkpoints intact; a checkpoint
whose manifest is missing or whose files do not match it is reported and skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from alslm_ml.model import GPT, save_model

MANIFEST = "manifest.json"
STEP_DIR = re.compile(r"^step_(\d+)$")


class CorruptCheckpoint(Exception):
    pass


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_tree(root: Path) -> None:
    for p in sorted(root.rglob("*")):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- optimizer state <-> (tensors, json) -------------------------------------------------------

def optimizer_to_safe(sd: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"state.{pid}.{k}"] = v.detach().contiguous().cpu()
            else:
                scalars[f"{pid}.{k}"] = v
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def optimizer_from_safe(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, t in tensors.items():
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = t
    for key, v in meta.get("scalars", {}).items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


# --- save -------------------------------------------------------------------------------------

def save_checkpoint(dest: str | Path, model: GPT, optimizer_state: dict | None, state: dict) -> Path:
    """Write a checkpoint to `dest` atomically (temp dir + rename; an existing `dest` is replaced)."""
    dest = Path(dest)
    tmp = dest.parent / f".tmp-{dest.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_model(model, tmp / "model")
    state = dict(state)
    if optimizer_state is not None:
        tensors, opt_meta = optimizer_to_safe(optimizer_state)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        state["optimizer"] = opt_meta
    rng = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            rng[f"torch_cuda_{i}"] = s
    save_file(rng, str(tmp / "rng.safetensors"))
    (tmp / "state.json").write_text(json.dumps(state, indent=2))
    files = sorted(p for p in tmp.rglob("*") if p.is_file())
    manifest = {str(p.relative_to(tmp)): {"sha256": _sha256(p), "bytes": p.stat().st_size} for p in files}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    _fsync_tree(tmp)
    old = dest.parent / f".old-{dest.name}-{os.getpid()}"
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    if old.exists():
        shutil.rmtree(old)
    return dest


def step_dirs(run_dir: str | Path) -> list[Path]:
    """step_N checkpoint directories, newest first."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        return []
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if p.is_dir() and (m := STEP_DIR.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def rotate(run_dir: str | Path, keep_last: int) -> list[Path]:
    """Delete all but the newest `keep_last` step_N directories (best/ is separate). Returns removed."""
    removed = step_dirs(run_dir)[keep_last:]
    for p in removed:
        shutil.rmtree(p)
    return removed


# --- load -------------------------------------------------------------------------------------

def verify(ckpt: str | Path) -> dict:
    """Check every file against the manifest; return the parsed state.json. Raises CorruptCheckpoint
    naming the file that is missing, truncated or changed."""
    ckpt = Path(ckpt)
    mpath = ckpt / MANIFEST
    if not mpath.exists():
        raise CorruptCheckpoint(f"{ckpt}: no {MANIFEST} (incomplete save)")
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError as e:
        raise CorruptCheckpoint(f"{mpath}: unreadable manifest ({e})") from e
    for rel, info in manifest.items():
        p = ckpt / rel
        if not p.exists():
            raise CorruptCheckpoint(f"{p}: listed in the manifest but missing")
        if p.stat().st_size != info["bytes"]:
            raise CorruptCheckpoint(f"{p}: {p.stat().st_size} bytes, manifest says {info['bytes']} (truncated?)")
        if _sha256(p) != info["sha256"]:
            raise CorruptCheckpoint(f"{p}: sha256 mismatch with the manifest (file changed or corrupt)")
    return json.loads((ckpt / "state.json").read_text())


def find_latest_valid(run_dir: str | Path, log: Callable[[str], None] = print) -> tuple[Path, dict] | None:
    """The newest step_N checkpoint that verifies; corrupt ones are reported and skipped."""
    for ckpt in step_dirs(run_dir):
        try:
            return ckpt, verify(ckpt)
        except CorruptCheckpoint as e:
            log(f"WARNING: checkpoint {ckpt.name} is corrupt, falling back to an older one: {e}")
    return None


def load_rng(ckpt: str | Path) -> None:
    rng = load_file(str(Path(ckpt) / "rng.safetensors"))
    torch.set_rng_state(rng["torch_cpu"])
    if torch.cuda.is_available():
        states = [rng[k] for k in sorted(rng) if k.startswith("torch_cuda_")]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)


def load_optimizer_state(ckpt: str | Path, state: dict) -> dict | None:
    path = Path(ckpt) / "optimizer.safetensors"
    if "optimizer" not in state or not path.exists():
        return None
    return optimizer_from_safe(load_file(str(path)), state["optimizer"])
