"""Our Voxtral Realtime against the transformers reference: same logits, same greedy tokens."""

import numpy as np
import pytest
import torch

from tests.fixtures import hf_reference
from tests.model.conftest import DIMS


def our_logits(model, padded: np.ndarray, tokens: list[int], delay_ms: float) -> torch.Tensor:
    """Teacher-forced logits of our network over len(tokens) positions of already padded audio."""
    core = model.lockstep(batch=1, n_delay=model.config.delay_tokens(delay_ms))
    core.push(torch.from_numpy(padded)[None])
    audio = core.encode(len(tokens))
    with torch.no_grad():
        return model.net.decoder(audio, torch.tensor([tokens]), core.dec, core.scales, all_logits=True)[0]


@pytest.mark.parametrize("name", list(DIMS))
@pytest.mark.parametrize("delay_ms", [480, 160])
def test_logits_match_reference(tiny_factory, speech, name: str, delay_ms: int) -> None:
    tiny = tiny_factory(name)
    audio = speech[: 16000 * 2]
    prompt, padded = hf_reference.mistral_request(tiny.tekken, audio, delay_ms)
    n_positions = len(padded) // 1280 - 1
    rng = np.random.default_rng(3)
    forced = rng.integers(0, tiny.model.config.decoder.vocab_size, n_positions - len(prompt)).tolist()
    ref = hf_reference.forward_logits(tiny.ref, tiny.tekken, audio, forced, delay_ms)
    ours = our_logits(tiny.model, padded, prompt + forced, delay_ms)
    assert ours.shape == ref.shape
    # Long enough for both sliding windows to be exceeded.
    assert n_positions > DIMS[name].sliding_window and 4 * n_positions > DIMS[name].enc_sliding_window
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", list(DIMS))
@pytest.mark.parametrize("delay_ms", [480, 960])
def test_greedy_tokens_match_reference(tiny_factory, speech, name: str, delay_ms: int) -> None:
    tiny = tiny_factory(name)
    expected = hf_reference.generate_ids(tiny.ref, tiny.tekken, speech, delay_ms)
    assert len(set(expected)) >= 4, "the random reference should produce varied tokens"
    result = tiny.model.transcribe(speech, 16000, delay_ms=delay_ms)
    assert result.token_ids == expected
    assert result.text == tiny.model.tokenizer.decode(expected)


def test_prompt_and_padding_follow_mistral_common(tiny, speech) -> None:
    for delay_ms in (80, 480, 2400):
        prompt, padded = hf_reference.mistral_request(tiny.tekken, speech, delay_ms)
        n_delay = tiny.model.config.delay_tokens(delay_ms)
        assert tiny.model.prompt(n_delay) == prompt
        right = n_delay + 1 + tiny.model.config.streaming.right_pad_buffer_tokens
        assert len(padded) == (32 + -(-len(speech) // 1280) + right) * 1280
