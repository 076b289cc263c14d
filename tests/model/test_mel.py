import numpy as np
import pytest
import torch
from transformers import VoxtralRealtimeFeatureExtractor
from transformers.audio_utils import mel_filter_bank as reference_bank

from model.mel import LogMel, MelConfig, mel_filter_bank
from tests.fixtures.speech import alsa_recording, espeak_speech

CFG = MelConfig(sample_rate=16000, n_mels=128, hop_length=160, window_size=400, global_log_mel_max=1.5)


def test_filter_bank_matches_reference() -> None:
    ours = mel_filter_bank(201, 128, 16000)
    ref = reference_bank(201, 128, 0.0, 8000.0, 16000, norm="slaney", mel_scale="slaney")
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


def _speech_signals() -> list[np.ndarray]:
    espeak, _ = espeak_speech("The quick brown fox jumps over the lazy dog.")
    import soxr

    human, rate = alsa_recording("Front_Center")
    return [espeak, soxr.resample(human, rate, 16000, quality="HQ").astype(np.float32)]


@pytest.mark.parametrize("index", [0, 1], ids=["espeak", "alsa-recording"])
def test_log_mel_matches_reference_feature_extractor(index: int) -> None:
    audio = _speech_signals()[index]
    padded = np.pad(audio, (32 * 1280, (-len(audio)) % 1280 + 17 * 1280))
    ref = VoxtralRealtimeFeatureExtractor()(padded, sampling_rate=16000, return_tensors="pt").input_features
    mel = LogMel(CFG, torch.device("cpu"))
    whole = mel.whole(torch.from_numpy(padded)[None])
    # The streaming path frames an explicitly zero-extended buffer instead of reflect-padding.
    framed = mel.frames(torch.from_numpy(np.pad(padded, 200))[None])[..., : ref.shape[-1]]
    assert whole.shape == ref.shape == framed.shape
    torch.testing.assert_close(whole, ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(framed, ref, rtol=0, atol=1e-5)
    assert ref.std() > 0.1  # real speech, not silence


def test_dynamic_floor_is_per_audio() -> None:
    cfg = MelConfig(16000, 128, 160, 400, None)
    audio = _speech_signals()[0]
    loud, quiet = torch.from_numpy(audio), torch.from_numpy(audio * 0.01)
    mel = LogMel(cfg, torch.device("cpu")).whole(torch.stack([loud, quiet]))
    # With a dynamic floor each signal is measured against its own maximum.
    assert mel[0].max() > mel[1].max()
    assert torch.allclose(mel[0].amin(), mel[0].amax() - 2.0, atol=1e-5)  # floor = max - 8 in log10, / 4
