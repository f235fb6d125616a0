"""The export assets materialized by Dagster on a toy checkpoint laid out as the training stage
lays it out (data/checkpoints/<run>/best/model, data/tokenizer/tokenizer.json)."""

import json
import shutil

import pytest
from dagster import materialize

from alslm_assets.assets import export as export_assets
from alslm_ml.export.toy import build_toy_exports


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return build_toy_exports(tmp_path_factory.getbasetemp() / "alslm_toy")


@pytest.mark.slow
def test_export_assets_end_to_end(toy, tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(toy["model"], data / "checkpoints" / "toy" / "best" / "model")
    (data / "tokenizer").mkdir(parents=True)
    shutil.copy(toy["tokenizer"], data / "tokenizer" / "tokenizer.json")
    monkeypatch.setenv("ALSLM_DATA_DIR", str(data))
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens there
    result = materialize(
        [export_assets.hf_model, export_assets.gguf_models, export_assets.ollama_model, export_assets.hf_logit_parity, export_assets.gguf_matches_torch],
        run_config={"ops": {"gguf_models": {"config": {"quants": ["q8_0", "q5_k_m"]}},
                            "ollama_model": {"config": {"quant": "q8_0", "timeout_s": 0.5}}}},
    )
    assert result.success
    mats = {m.asset_key.to_user_string(): m.metadata for m in result.get_asset_materialization_events()
            for m in [m.event_specific_data.materialization]}
    assert mats["hf_model"]["max_abs_logit_diff"].value <= 1e-4
    assert (data / "export" / "hf" / "model.safetensors").exists()
    gg = mats["gguf_models"]
    assert gg["all_ok"].value is True and "| q5_k_m |" in gg["table"].value
    for q in ("f16", "q8_0", "q5_k_m"):
        assert (data / "export" / "gguf" / f"als-lm-{q}.gguf").exists()
    assert not (data / "export" / "gguf" / "als-lm-q4_k_m.gguf").exists()
    checks = json.loads((data / "export" / "gguf" / "verify.json").read_text())["checks"]
    assert [c["quant"] for c in checks] == ["f16", "q8_0", "q5_k_m"]
    om = mats["ollama_model"]
    assert om["registered"].value is False and "ollama create als-lm -f als-lm-q8_0.Modelfile" in om["command"].value
    mf = (data / "export" / "gguf" / "als-lm-q8_0.Modelfile").read_text()
    assert mf.startswith("FROM ./als-lm-q8_0.gguf") and "PARAMETER num_ctx 256" in mf
    evals = {e.asset_check_key.name: e.passed for e in result.get_asset_check_evaluations()}
    assert evals == {"hf_logit_parity": True, "gguf_matches_torch": True}


def test_gguf_asset_rejects_unknown_quant(toy, tmp_path, monkeypatch):
    monkeypatch.setenv("ALSLM_DATA_DIR", str(tmp_path))
    with pytest.raises(Exception, match="unknown types"):
        materialize([export_assets.gguf_models], run_config={"ops": {"gguf_models": {"config": {"quants": ["q3_xs"]}}}})


def test_ollama_asset_registers_when_a_server_answers(toy, tmp_path, monkeypatch):
    """The registration branch, against recorded Ollama API responses (see test_export_ollama)."""
    import httpx
    from test_export_ollama import FakeOllama

    from alslm_ml.export import ollama

    folder = tmp_path / "data" / "export" / "gguf"
    folder.mkdir(parents=True)
    shutil.copy(toy["q4_k_m"], folder / "als-lm-q4_k_m.gguf")
    monkeypatch.setenv("ALSLM_DATA_DIR", str(tmp_path / "data"))
    fake = FakeOllama()
    transport = httpx.MockTransport(fake)
    real_client, real_version = ollama.client, ollama.server_version
    monkeypatch.setattr(ollama, "client", lambda base=None, timeout=600.0, transport_=None: real_client(base, timeout, transport))
    monkeypatch.setattr(ollama, "server_version", lambda base=None, timeout=1.0: real_version(base, timeout, transport))
    result = materialize([export_assets.ollama_model], run_config={"ops": {"ollama_model": {"config": {"quant": "q4_k_m"}}}})
    meta = result.asset_materializations_for_node("ollama_model")[0].metadata
    assert meta["registered"].value is True and meta["ollama_version"].value == "0.6.5"
    assert meta["create_status"].value == "success"
    assert meta["sample_answer"].value == "ALS-LM is a research project, not a medical resource."
    (body,) = fake.bodies("/api/create")
    assert body["files"] == {"als-lm-q4_k_m.gguf": next(iter(fake.blobs))}
    assert body["parameters"]["num_ctx"] == 256
