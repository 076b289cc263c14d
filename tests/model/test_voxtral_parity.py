"""Voxtral Mini 3B against the transformers reference, with prompts built independently by mistral-common."""

import numpy as np
import pytest
import torch

from model.voxtral.generate import Sampling
from tests.fixtures import voxtral_reference as R
from tests.fixtures.speech import espeak_speech


def clip(text: str) -> np.ndarray:
    return espeak_speech(text)[0]


def our_logits(model, prompt) -> torch.Tensor:
    g = model.generation([prompt], Sampling(1))
    cis = g.cis[g._positions(0, g.inputs.shape[1])]
    with torch.no_grad():
        return model.net.decoder(g.inputs, cis, g.cache, 0, all_logits=True)[0]


def reference_ids(voxtral, tokens, audios, max_new: int) -> list[int]:
    return R.generate_ids(voxtral.ref, tokens, R.features(audios) if audios else None, max_new)


CONVERSATIONS = {
    "two-clips-multi-turn": lambda: [
        {"role": "user", "content": [
            {"type": "audio", "audio": clip("We agreed to move the launch to May."), "sample_rate": 16000},
            {"type": "text", "text": "And this one?"},
            {"type": "audio", "audio": clip("The budget stays as it is."), "sample_rate": 16000},
        ]},
        {"role": "assistant", "content": "Both are about planning."},
        {"role": "user", "content": "What changed?"},
    ],
    "text-only": lambda: [{"role": "user", "content": "Say hello."}],
    "audio-only": lambda: [{"role": "user", "content": [
        {"type": "audio", "audio": clip("Only audio here."), "sample_rate": 16000}]}],
    "longer-than-30s": lambda: [{"role": "user", "content": [
        {"type": "audio", "audio": np.tile(clip("A long recording goes on and on."), 14), "sample_rate": 16000},
        {"type": "text", "text": "Summarise."},
    ]}],
}


@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_chat_prompts_logits_and_tokens_match_reference(voxtral, name) -> None:
    conversation = CONVERSATIONS[name]()
    tokens, audios = R.chat_request(voxtral.tekken, conversation)
    prompt = voxtral.model.prompts.chat(conversation)
    assert prompt.tokens == tokens
    assert len(prompt.audios) == len(audios)
    assert all(np.array_equal(a, b) for a, b in zip(prompt.audios, audios, strict=True))
    if name == "longer-than-30s":
        assert sum(len(a) for a in audios) >= 2 * 30 * 16000  # several 30 s chunks
    ref_logits = R.forward_logits(voxtral.ref, tokens, R.features(audios) if audios else None)
    torch.testing.assert_close(our_logits(voxtral.model, prompt), ref_logits, rtol=0, atol=1e-4)
    expected = reference_ids(voxtral, tokens, audios, 24)
    assert len(set(expected)) >= 3
    assert voxtral.model.chat(conversation, max_new_tokens=24).token_ids == expected


@pytest.mark.parametrize("language", ["en", None])
def test_transcription_matches_reference(voxtral, language) -> None:
    audio = clip("Transcribe this sentence exactly as it is spoken.")
    tokens, audios = R.transcription_request(voxtral.tekken, audio, language)
    prompt = voxtral.model.prompts.transcription(audio, language)
    assert prompt.tokens == tokens
    expected = reference_ids(voxtral, tokens, audios, 30)
    result = voxtral.model.transcribe(audio, 16000, language=language, max_new_tokens=30)
    assert result.token_ids == expected
    assert result.text == voxtral.model.tokenizer.decode(expected)


def test_batch_of_different_conversations(voxtral) -> None:
    with_audio = [CONVERSATIONS["two-clips-multi-turn"](), CONVERSATIONS["audio-only"]()]
    requests = [R.chat_request(voxtral.tekken, c) for c in with_audio]
    assert len({len(t) for t, _ in requests}) == 2  # different lengths: the batch needs padding
    batched_reference = R.generate_batch(
        voxtral.ref, [t for t, _ in requests], [R.features(a) for _, a in requests], 16
    )
    conversations = [*with_audio, CONVERSATIONS["text-only"]()]
    replies = voxtral.model.chat(conversations, max_new_tokens=16)
    assert isinstance(replies, list) and len(replies) == 3
    for reply, expected in zip(replies[:2], batched_reference, strict=True):
        assert reply.token_ids == expected
    for reply, conversation in zip(replies, conversations, strict=True):
        assert reply.token_ids == voxtral.model.chat(conversation, max_new_tokens=16).token_ids


def test_audio_from_files_and_other_rates(voxtral, tmp_path) -> None:
    import soundfile
    import soxr

    audio = clip("Files and arrays give the same prompt.")
    stereo_44k = soxr.resample(np.stack([audio, audio], axis=1), 16000, 44100, quality="HQ")
    path = tmp_path / "clip.flac"
    soundfile.write(path, audio, 16000)
    from_file = voxtral.model.prompts.chat([{"role": "user", "content": [{"type": "audio", "path": str(path)}]}])
    from_array = voxtral.model.prompts.chat(
        [{"role": "user", "content": [{"type": "audio", "audio": audio, "sample_rate": 16000}]}])
    assert from_file.tokens == from_array.tokens
    np.testing.assert_allclose(from_file.audios[0], from_array.audios[0], atol=1e-4)  # FLAC is 16-bit
    resampled = voxtral.model.prompts.chat(
        [{"role": "user", "content": [{"type": "audio", "audio": stereo_44k, "sample_rate": 44100}]}])
    assert resampled.tokens == from_array.tokens
    assert voxtral.model.transcribe(path, max_new_tokens=4).token_ids == voxtral.model.transcribe(
        audio, 16000, max_new_tokens=4).token_ids
