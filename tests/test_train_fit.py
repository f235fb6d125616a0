"""The GPU arm's decisions, tested on CPU: the fit plan (micro batch, checkpointing, ZeRO stage,
offload) for given memory sizes, pinned choices, the DeepSpeed JSON it produces, the
TORCH_CUDA_ARCH_LIST normalisation, and parameter/FLOP accounting that does not read tensors."""

from __future__ import annotations

import pytest
import torch

from alslm_ml.model import GPT, get_config
from alslm_ml.train.budget import GIB, activation_bytes, plan_fit, state_bytes
from alslm_ml.train.config import load_train_config
from alslm_ml.train.launch import deepspeed_env, normalize_arch_list
from alslm_ml.train.trainer import deepspeed_config, fit_to_machine, needs_engine

GB = 1e9
TOKENS = 32768  # the 500m / 1b presets' tokens per optimizer step


def quiet(_msg: str) -> None:
    pass


def test_500m_on_an_80gb_card_needs_no_offload_nor_checkpointing():
    plan = plan_fit(get_config("500m"), 79 * GB, TOKENS)
    assert not plan.gradient_checkpointing and not plan.offload_optimizer and not plan.offload_param
    assert plan.zero_stage == 0 and plan.micro_batch >= 16 and plan.reason == "fits"
    assert plan.micro_batch * plan.grad_accum * 1024 == TOKENS  # tokens per step kept
    assert plan.estimate_gib <= plan.budget_gib
    # the next power of two would not fit: the plan took the largest micro batch
    bigger = state_bytes(get_config("500m").num_params(), 0, False, False, 1) + \
        activation_bytes(get_config("500m"), plan.micro_batch * 2, False, True)
    assert plan.micro_batch == 32 or bigger / GIB > plan.budget_gib


def test_1b_fits_an_80gb_card_plainly_but_a_24gb_card_only_with_help():
    big = plan_fit(get_config("1b"), 79 * GB, TOKENS)
    assert not (big.gradient_checkpointing or big.offload_optimizer or big.offload_param) and big.micro_batch >= 8
    small = plan_fit(get_config("1b"), 23.5 * GB, TOKENS)
    assert small.gradient_checkpointing or small.offload_optimizer or small.offload_param
    assert small.estimate_gib <= small.budget_gib and small.micro_batch >= 1
    tiny_card = plan_fit(get_config("1b"), 8 * GB, TOKENS)
    assert tiny_card.offload_optimizer and tiny_card.zero_stage >= 2


def test_pinned_choices_are_kept():
    plan = plan_fit(get_config("500m"), 79 * GB, TOKENS, pinned={"gradient_checkpointing": True, "micro_batch": 8})
    assert plan.gradient_checkpointing and plan.micro_batch == 8 and plan.grad_accum == 4
    off = plan_fit(get_config("500m"), 79 * GB, TOKENS, pinned={"offload_optimizer": True})
    assert off.offload_optimizer and off.zero_stage == 2
    nofit = plan_fit(get_config("1b"), 8 * GB, TOKENS, pinned={"offload_optimizer": False, "offload_param": False})
    assert nofit.reason == "does NOT fit by the estimate" and not nofit.offload_optimizer


def test_several_gpus_shard_with_zero2():
    plan = plan_fit(get_config("500m"), 79 * GB, TOKENS, world=4)
    assert plan.zero_stage == 2 and plan.micro_batch * plan.grad_accum * 1024 * 4 == TOKENS


def test_cpu_keeps_the_config_and_never_compiles():
    cfg, plan = fit_to_machine(load_train_config("500m"), get_config("500m"), torch.device("cpu"), 1, quiet)
    assert plan is None and cfg.batch_size == 4 and cfg.grad_accum == 8 and cfg.compile is False
    assert cfg.gradient_checkpointing is False
    tiny, _ = fit_to_machine(load_train_config("tiny"), load_train_config("tiny").model_config(), torch.device("cpu"), 1, quiet)
    assert (tiny.batch_size, tiny.grad_accum, tiny.compile) == (8, 1, False)
    pinned, _ = fit_to_machine(load_train_config("tiny", ["compile=true"]), load_train_config("tiny").model_config(),
                               torch.device("cpu"), 1, quiet)
    assert pinned.compile is True


def test_deepspeed_json_uses_torch_adamw_unless_offloading(tmp_path):
    cuda = torch.device("cuda")  # a device object only: nothing runs on it
    cfg = load_train_config("500m", ["batch_size=32", "grad_accum=1", "zero_stage=2", "offload_optimizer=false"])
    ds = deepspeed_config(cfg, cuda, True)
    assert "optimizer" not in ds and ds["zero_allow_untested_optimizer"]
    assert ds["zero_optimization"]["offload_optimizer"] == {"device": "none"} and "offload_param" not in ds["zero_optimization"]
    assert ds["train_micro_batch_size_per_gpu"] == 32 and ds["gradient_accumulation_steps"] == 1
    off = deepspeed_config(load_train_config("1b", ["batch_size=2", "grad_accum=16", "zero_stage=3", "offload_optimizer=true",
                                              "offload_param=true"]), cuda, True)
    assert off["optimizer"]["type"] == "AdamW" and off["zero_optimization"]["offload_param"]["device"] == "cpu"


def test_engine_only_where_deepspeed_adds_something():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    plain = load_train_config("500m", ["zero_stage=0", "offload_optimizer=false"])
    assert not needs_engine(plain, cuda, 1)
    assert needs_engine(plain, cuda, 2) and needs_engine(plain, cpu, 1)
    assert needs_engine(load_train_config("500m", ["zero_stage=3"]), cuda, 1)


@pytest.mark.parametrize("raw, expect", [("9.0a", "9.0"), ("9.0+PTX", "9.0+PTX"), ("8.0;8.6;9.0a", "8.0;8.6;9.0"),
                                         ("9.0a 10.0a", "9.0;10.0"), ("sm_90a", "9.0"), ("7.5,8.0", "7.5;8.0")])
def test_arch_list_normalised_for_deepspeed(raw, expect):
    assert normalize_arch_list(raw) == expect
    assert deepspeed_env({"TORCH_CUDA_ARCH_LIST": raw})["TORCH_CUDA_ARCH_LIST"] == expect


def test_arch_list_garbage_is_named():
    with pytest.raises(ValueError, match="'hopper'"):
        normalize_arch_list("9.0;hopper")
    assert "TORCH_CUDA_ARCH_LIST" not in deepspeed_env({})


def test_flops_and_parameters_come_from_the_shape():
    for name in ("tiny", "500m"):
        c = get_config(name)
        with torch.device("meta"):
            model = GPT(c)
        assert model.num_params() == c.num_params()
        assert model.flops_per_token() == c.flops_per_token() > 6 * c.num_params(non_embedding=True)
