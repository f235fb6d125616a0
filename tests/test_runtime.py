"""The runtime interface on real models: the toy GGUF and checkpoint made in the test (raw
completion) and the packaged SmolLM2-135M-Instruct (chat), through llama.cpp and PyTorch."""

import pytest
import torch

from alslm_ml.export.toy import build_toy_exports
from alslm_ml.runtime.base import GenerationConfig, Runtime, StopFilter, stream_completion
from alslm_ml.runtime.llamacpp import LlamaCpp
from alslm_ml.runtime.sampling import next_token
from alslm_ml.runtime.torch_gpt import TorchGPT

PROMPT = "User: What is ALS-LM?\nAssistant:"
GREEDY = GenerationConfig.greedy(max_tokens=24).with_(repeat_penalty=1.0)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return build_toy_exports(tmp_path_factory.getbasetemp() / "alslm_toy", quants=("q8_0",))


@pytest.fixture(scope="module")
def toy_llama(toy):
    rt = LlamaCpp(toy["f16"], n_threads=1)
    yield rt
    rt.close()


def _stop_inside(text: str) -> str:
    """A piece from the middle of a generated text, to stop on."""
    assert len(text) >= 8, text
    return text[len(text) // 2 : len(text) // 2 + 3]


@pytest.mark.parametrize("kind", ["llamacpp", "torch"])
def test_completion_stops_before_the_stop_text_and_counts_tokens(toy, toy_llama, kind):
    rt = toy_llama if kind == "llamacpp" else TorchGPT(toy["model"], toy["tokenizer"])
    full = rt.complete(PROMPT, GREEDY)
    assert full.text and full.prompt_tokens == 1 + rt.count_tokens(PROMPT)  # end-of-text token first
    assert 0 < full.completion_tokens <= 24 and full.first_token_seconds <= full.seconds
    stop = _stop_inside(full.text)
    streamed: list[str] = []
    cut = rt.complete(PROMPT, GREEDY, on_token=streamed.append, stop=stop)
    assert cut.text == full.text[: full.text.index(stop)] and "".join(streamed) == cut.text
    assert stop not in "".join(streamed)
    assert cut.completion_tokens < full.completion_tokens  # generation ended there, not at max_tokens
    assert cut.prompt_tokens == full.prompt_tokens


def test_completion_respects_max_tokens_and_the_context(toy_llama):
    assert toy_llama.complete(PROMPT, GREEDY.with_(max_tokens=3)).completion_tokens <= 3
    assert toy_llama.n_ctx == 256  # the toy model's context, not llama.cpp's default
    long = "word " * 400
    assert toy_llama.count_tokens(toy_llama.truncate(long, 50)) <= 50 and toy_llama.truncate("short", 50) == "short"
    over = toy_llama.complete(long, GREEDY)  # a prompt longer than the context: nothing generated
    assert over.text == "" and over.completion_tokens == 0


@pytest.fixture(scope="module")
def smollm():
    rt = LlamaCpp(n_ctx=2048, n_threads=1)  # the packaged SmolLM2-135M-Instruct
    yield rt
    rt.close()


def test_chat_stops_at_the_end_of_turn_and_counts_tokens(smollm):
    messages = [{"role": "user", "content": "Reply with one word: is water wet?"}]
    pieces: list[str] = []
    done = smollm.chat(messages, GenerationConfig.greedy(max_tokens=200), on_token=pieces.append)
    assert done.text and "".join(pieces) == done.text
    assert 0 < done.completion_tokens < 200  # the model's end-of-turn token ended it, not the budget
    assert done.prompt_tokens > smollm.count_tokens(messages[0]["content"])  # the chat template's tokens too
    again = smollm.chat(messages, GenerationConfig.greedy(max_tokens=200))
    assert again.text == done.text
    short = smollm.chat(messages, GenerationConfig.greedy(max_tokens=2))
    assert short.completion_tokens <= 2


def test_a_runtime_without_raw_completion_says_so():
    with pytest.raises(NotImplementedError, match="no raw completion"):
        Runtime().complete("x", GREEDY)
    assert Runtime().count_tokens("abcdefgh") == 2 and Runtime().truncate("abcdefgh", 1) == "abcd"


def test_stream_completion_holds_back_the_stop_text():
    shown: list[str] = []
    done = stream_completion(iter([" It is", " a model.\nUs", "er: next"]), shown.append, "\nUser:")
    assert done.text == "It is a model." and "".join(shown) == done.text
    assert stream_completion(iter(["a\nUs"]), None, "\nUser:").text == "a\nUs"  # no stop: released at the end
    passthrough = StopFilter(None, None)
    passthrough.feed("a\nUser: b")
    passthrough.flush()
    assert passthrough.text == "a\nUser: b"


def test_next_token_rule():
    logits = torch.tensor([1.0, 3.0, 2.9, -1.0])
    greedy = GenerationConfig.greedy()
    gen = torch.Generator().manual_seed(0)
    assert next_token(logits, torch.tensor([], dtype=torch.long), greedy.with_(repeat_penalty=1.0), gen) == 1
    # the penalty divides a positive logit: 3.0 / 1.1 < 2.9, so the second-best wins
    assert next_token(logits, torch.tensor([1]), greedy.with_(repeat_penalty=1.1), gen) == 2
    top1 = GenerationConfig(temperature=1.0, top_k=1, top_p=1.0, repeat_penalty=1.0)
    assert {next_token(logits, torch.tensor([0]), top1, gen) for _ in range(20)} == {1}
    sample = GenerationConfig(temperature=1.0, top_k=0, top_p=0.95, repeat_penalty=1.0)
    draws = [next_token(logits, torch.tensor([0]), sample, torch.Generator().manual_seed(s)) for s in range(30)]
    assert draws == [next_token(logits, torch.tensor([0]), sample, torch.Generator().manual_seed(s)) for s in range(30)]
    assert set(draws) <= {0, 1, 2} and {1, 2} <= set(draws)  # top-p drops the least likely token
