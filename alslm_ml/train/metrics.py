"""Throughput, model FLOPs utilisation, device readings and the CSV training log.

MFU = achieved model FLOPs/s ÷ peak FLOPs/s, with model FLOPs per token = 6N + 12·L·d·T (PaLM
appendix B, as nanoGPT). Peaks:
- GPUs: dense tensor-core bf16 from the vendor data sheets (H100/H200 SXM 989 TFLOP/s, A100 312).
- CPU: an *estimate* = threads × clock × FP32 FLOPs/cycle/core (64 with AVX-512 FMA: 2 units ×
  16 lanes × 2; 32 with AVX2 FMA). It is a ceiling no PyTorch CPU run reaches, so CPU MFU is small;
  the achieved GFLOP/s is the figure to compare. Override with TrainConfig.peak_flops.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import torch

GPU_PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "GH200": 989e12, "A100": 312e12}

COLUMNS = ["step", "tokens", "epoch", "train_loss", "val_loss", "lr", "grad_norm", "tokens_per_s",
           "gflops_per_s", "mfu", "elapsed_s", "gpu_mem_gb", "gpu_temp_c"]


def cpu_peak_flops(threads: int | None = None) -> float:
    threads = threads or torch.get_num_threads()
    ghz, per_cycle = 2.5, 16
    try:
        info = Path("/proc/cpuinfo").read_text()
        mhz = [float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
        ghz = (max(mhz) / 1000.0) if mhz else ghz
        flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
        per_cycle = 64 if " avx512f" in flags else 32 if " fma" in flags else 16
    except OSError:
        pass
    return threads * ghz * 1e9 * per_cycle


def peak_flops(device: torch.device, override: float = 0.0) -> tuple[float, str]:
    """(peak FLOP/s, where the number comes from)."""
    if override > 0:
        return override, "configured peak_flops"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, val in GPU_PEAK_BF16.items():
            if key in name:
                return val, f"{name}: dense bf16 data-sheet peak"
        return 0.0, f"{name}: unknown peak (set peak_flops)"
    return cpu_peak_flops(), f"CPU estimate ({torch.get_num_threads()} threads, see metrics.py)"


def gpu_reading(device: torch.device) -> tuple[float | None, float | None]:
    """(max memory allocated in GB since start, temperature °C) — (None, None) off CUDA."""
    if device.type != "cuda":
        return None, None
    mem = torch.cuda.max_memory_allocated(device) / 1e9
    temp = None
    try:
        import pynvml  # optional

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
        temp = float(pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU))
    except Exception:
        if shutil.which("nvidia-smi"):
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=temperature.gpu", "--format=csv,noheader,nounits",
                                      f"--id={device.index or 0}"], capture_output=True, text=True, timeout=5)
                temp = float(out.stdout.strip().splitlines()[0])
            except (subprocess.SubprocessError, ValueError, IndexError):
                temp = None
    return mem, temp


class CsvLog:
    """metrics.csv in the run directory. On resume, rows after the resumed step are dropped so
    the file shows one continuous curve."""

    def __init__(self, path: str | Path, resume_step: int | None):
        self.path = Path(path)
        rows = []
        if resume_step is not None and self.path.exists():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        with open(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            w.writerows(rows)

    def write(self, row: dict) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=COLUMNS).writerow({k: _fmt(row.get(k)) for k in COLUMNS})


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.8g}"
    return v


def read_log(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: (float(v) if v not in ("", None) else None) for k, v in r.items()} for r in csv.DictReader(f)]
