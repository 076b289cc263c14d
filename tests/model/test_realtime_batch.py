"""Batched offline transcription: one batch, each result identical to transcribing that audio alone."""

import numpy as np
import pytest

from model import AudioInputError
from tests.fixtures.speech import espeak_speech


@pytest.mark.parametrize("name", ["gqa2", "mqa_small_windows"])
def test_batch_equals_single(tiny_factory, name) -> None:
    model = tiny_factory(name).model
    audios = [
        espeak_speech("Short one.")[0],
        espeak_speech("A considerably longer sentence, so the batch mixes very different lengths of audio.")[0],
        espeak_speech("Medium length speech for the middle.")[0][:20000],
        np.zeros(800, dtype=np.float32),  # 50 ms of silence
    ]
    singles = [model.transcribe(a, 16000) for a in audios]
    batch = model.transcribe(audios, 16000)
    assert isinstance(batch, list) and len(batch) == len(audios)
    for one, many in zip(singles, batch, strict=True):
        assert many.token_ids == one.token_ids
        assert many.text == one.text


def test_batch_accepts_tuples_and_mixed_formats(tiny) -> None:
    speech = espeak_speech("Mixed formats in one batch.")[0]
    pcm = (speech * 32767).astype(np.int16)
    stereo = np.stack([speech, speech], axis=1)
    results = tiny.model.transcribe((speech, pcm, stereo), 16000)
    assert len(results) == 3
    assert results[2].token_ids == results[0].token_ids  # identical channels downmix to the same signal


def test_batch_errors_name_the_bad_item(tiny) -> None:
    speech = espeak_speech("Fine.")[0]
    with pytest.raises(AudioInputError, match="audio 1 is empty"):
        tiny.model.transcribe([speech, np.zeros(0, dtype=np.float32)], 16000)
    with pytest.raises(AudioInputError, match="list is empty"):
        tiny.model.transcribe([], 16000)
