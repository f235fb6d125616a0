"""The one CPU-thread policy for local models."""

import os

import torch

from alslm_ml import threads


def test_small_gguf_gets_one_thread_big_one_the_free_cores(tmp_path, monkeypatch):
    small, big = tmp_path / "small.gguf", tmp_path / "big.gguf"
    small.write_bytes(b"\0" * 1024)
    with big.open("wb") as f:  # sparse: the size is what counts
        f.truncate(threads.SMALL_MODEL_BYTES + 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.2, 0.0, 0.0))
    assert threads.llama_threads(small) == 1
    assert threads.free_cores() == 13
    assert threads.llama_threads(big) == threads.MAX_LLAMA_THREADS  # capped
    monkeypatch.setattr(os, "getloadavg", lambda: (15.9, 0.0, 0.0))
    assert threads.llama_threads(big) == 1  # a saturated machine still gets one thread
    monkeypatch.setattr(os, "getloadavg", lambda: (_ for _ in ()).throw(OSError("no loadavg")))
    assert threads.free_cores() == 16


def test_torch_threads_restores_the_setting():
    before = torch.get_num_threads()
    with threads.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with threads.torch_threads(0):  # 0 leaves it alone
        assert torch.get_num_threads() == before
