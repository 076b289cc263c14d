"""Voxtral Mini 3B generation: sampling, streaming, cancellation, limits and the errors a caller can meet."""

import json
import shutil

import numpy as np
import pytest
import torch

from model import ConversationError, ModelError, PromptTooLongError, load_voxtral
from model.voxtral.generate import Sampling
from tests.fixtures.speech import espeak_speech


def ask(text: str = "What was said?", words: str = "The meeting starts at nine tomorrow."):
    return [{"role": "user", "content": [
        {"type": "audio", "audio": espeak_speech(words)[0], "sample_rate": 16000}, {"type": "text", "text": text}]}]


def test_sampling_is_reproducible_with_a_seed(voxtral) -> None:
    model = voxtral.model
    a = model.chat(ask(), max_new_tokens=20, temperature=1.0, top_p=0.95, seed=7)
    b = model.chat(ask(), max_new_tokens=20, temperature=1.0, top_p=0.95, seed=7)
    c = model.chat(ask(), max_new_tokens=20, temperature=1.0, top_p=0.95, seed=8)
    greedy = model.chat(ask(), max_new_tokens=20)
    assert a.token_ids == b.token_ids
    assert a.token_ids != c.token_ids
    assert a.token_ids != greedy.token_ids


def test_top_p_keeps_only_the_nucleus(voxtral) -> None:
    # With a tiny top_p only the likeliest token survives, so sampling becomes greedy.
    model = voxtral.model
    nucleus = model.chat(ask(), max_new_tokens=15, temperature=5.0, top_p=1e-6, seed=1)
    assert nucleus.token_ids == model.chat(ask(), max_new_tokens=15).token_ids


def test_stream_chat_deltas_add_up_to_the_reply(voxtral) -> None:
    model = voxtral.model
    deltas = list(model.stream_chat(ask(), max_new_tokens=25))
    reply = model.chat(ask(), max_new_tokens=25)
    assert "".join(deltas) == reply.text
    assert len(deltas) > 1


def test_closing_the_stream_stops_generation(voxtral) -> None:
    model = voxtral.model
    calls = []
    handle = model.net.decoder.register_forward_hook(lambda *_: calls.append(1))
    try:
        stream = model.stream_chat(ask(), max_new_tokens=200)
        next(stream)
        stream.close()
        done = len(calls)
        assert done < 20  # prefill plus a few steps, not 200
        with pytest.raises(StopIteration):
            next(stream)
        assert len(calls) == done  # nothing ran after the close
    finally:
        handle.remove()


def test_reply_reports_why_it_ended(voxtral) -> None:
    reply = voxtral.model.chat(ask(), max_new_tokens=3)
    assert reply.finish_reason == "length" and len(reply.token_ids) == 3
    stream = voxtral.model.stream_chat(ask(), max_new_tokens=3)
    assert stream.finish_reason is None
    list(stream)
    assert stream.finish_reason == "length"


def test_prompt_longer_than_the_context(voxtral, tmp_path) -> None:
    folder = shutil.copytree(voxtral.native_dir, tmp_path / "short-context")
    params = json.loads((folder / "params.json").read_text())
    params["max_position_embeddings"] = 1000
    (folder / "params.json").write_text(json.dumps(params))
    model = load_voxtral(folder, device="cpu")
    long_audio = np.tile(espeak_speech("This recording is far too long.")[0], 40)  # about 70 s: 3 chunks
    with pytest.raises(PromptTooLongError, match=r"needs 1,1\d\d tokens but the model's context holds 1,000: 0 sec"):
        model.transcribe(long_audio, 16000)
    assert model.max_audio_seconds == 0  # the 1024 tokens kept for the exchange do not fit either
    # A prompt that fits gets an answer cut at the context's end.
    reply = model.chat(ask(), max_new_tokens=5000)
    assert reply.finish_reason in {"eos", "length"} and len(reply.token_ids) < 1000


@pytest.mark.parametrize(
    ("conversation", "message"),
    [
        ([], "non-empty list"),
        ("hello", "non-empty list"),
        ([{"role": "system", "content": "hi"}], "role must be 'user' or 'assistant'"),
        ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], "last message"),
        ([{"role": "user", "content": [{"type": "video"}]}], "expected"),
        ([{"role": "user", "content": [{"type": "audio", "audio": np.zeros(100)}]}], "sample_rate"),
        ([{"role": "user", "content": [{"type": "audio"}]}], "'audio'.*or 'path'"),
        ([{"role": "user", "content": []}], "empty"),
        ([{"role": "assistant", "content": [{"type": "text", "text": "x"}]}], "text only"),
    ],
)
def test_bad_conversations(voxtral, conversation, message) -> None:
    with pytest.raises(ConversationError, match=message):
        voxtral.model.chat(conversation)


def test_bad_audio_and_options(voxtral, tmp_path) -> None:
    model = voxtral.model
    bad = np.zeros(1000, dtype=np.float32)
    bad[3] = np.inf
    with pytest.raises(ModelError, match="NaN or infinite"):
        model.chat([{"role": "user", "content": [{"type": "audio", "audio": bad, "sample_rate": 16000}]}])
    with pytest.raises(ModelError, match="no such file"):
        model.transcribe(tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_bytes(b"not audio")
    with pytest.raises(ModelError, match="cannot read this file"):
        model.transcribe(tmp_path / "junk.wav")
    with pytest.raises(ConversationError, match="ISO 639-1"):
        model.transcribe(np.zeros(16000, dtype=np.float32), 16000, language="english")
    with pytest.raises(ModelError, match="top_p"):
        model.chat(ask(), top_p=0.0)
    with pytest.raises(ModelError, match="max_new_tokens"):
        model.chat(ask(), max_new_tokens=0)


def test_each_request_allocates_one_cache(voxtral) -> None:
    g = voxtral.model.generation([voxtral.model.prompts.chat(ask())], Sampling(10))
    before = g.cache.k.data_ptr()
    tokens = [t for (t,) in g]
    assert g.cache.k.data_ptr() == before and g.cache.capacity == g.prompt_columns + 10
    assert all(isinstance(t, int) or t is None for t in tokens)
    assert torch.isfinite(g.cache.k).all()
