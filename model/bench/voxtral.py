"""Measuring one implementation of Voxtral (offline) in a fresh process: prefill time for a transcription request
of 30 s and of 5 min of audio (mel, encoder and prompt up to the first token), then decode speed.

Both implementations get the same prompt tokens and padded audio from mistral-common.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from model.bench.realtime import StepClock, peak_memory, sync, synthetic_audio

DECODE_TOKENS = 48


def _request(folder: Path, seconds: float) -> tuple[list[int], list[np.ndarray]]:
    from model.voxtral.prompt import PromptBuilder

    prompt = PromptBuilder(folder / "tekken.json", 16000).transcription(synthetic_audio(seconds), "en")
    return prompt.tokens, prompt.audios


def run_ours(folder: Path, device: torch.device, dtype: torch.dtype, precision: str | None = None) -> dict:
    from model import load_voxtral
    from model.voxtral.generate import Sampling
    from model.voxtral.prompt import Prompt

    t = time.perf_counter()
    model = load_voxtral(folder, device=device, dtype=dtype, precision=precision)
    sync(device)
    result = {"load_s": time.perf_counter() - t}
    for seconds in (30, 300):
        tokens, audios = _request(folder, seconds)
        times = [time.perf_counter()]
        generation = model.generation([Prompt(tokens, audios)], Sampling(DECODE_TOKENS))
        for _ in generation:
            sync(device)
            times.append(time.perf_counter())
        result[f"prefill_{seconds}s"] = times[1] - times[0]
        if seconds == 30:
            steps = np.diff(times[1:])
            result["decode_tok_s"] = len(steps) / steps.sum() if len(steps) else float("nan")
            result["decode_tokens"] = len(steps)
    result["peak_bytes"] = peak_memory(device)
    return result


def run_reference(folder: Path, device: torch.device, dtype: torch.dtype) -> dict:
    from transformers import VoxtralForConditionalGeneration, WhisperFeatureExtractor

    t = time.perf_counter()
    model = VoxtralForConditionalGeneration.from_pretrained(folder, dtype=dtype).to(device).eval()
    sync(device)
    result = {"load_s": time.perf_counter() - t}
    fe = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, hop_length=160, n_fft=400, chunk_length=30)

    for seconds in (30, 300):
        tokens, audios = _request(folder, seconds)
        clock = StepClock(device)
        start = time.perf_counter()
        feats = torch.cat([  # as VoxtralProcessor does it: one call per (padded) audio, then 3000-frame chunks
            fe(a, sampling_rate=16000, padding=True, truncation=False, pad_to_multiple_of=480000,
               return_tensors="pt").input_features.reshape(128, -1, 3000).transpose(0, 1)
            for a in audios
        ]).to(device, dtype)
        ids = torch.tensor([tokens], device=device)
        with torch.no_grad():
            model.generate(input_ids=ids, input_features=feats, attention_mask=torch.ones_like(ids),
                           max_new_tokens=DECODE_TOKENS, do_sample=False, streamer=clock)
        result[f"prefill_{seconds}s"] = clock.times[1] - start  # [0] is the prompt, [1] the first new token
        if seconds == 30:
            steps = np.diff(clock.times[1:])
            result["decode_tok_s"] = len(steps) / steps.sum() if len(steps) else float("nan")
            result["decode_tokens"] = len(steps)
    result["peak_bytes"] = peak_memory(device)
    return result


def main() -> None:
    """Child-process entry: python -m model.bench.voxtral IMPL FOLDER DEVICE DTYPE -> one JSON line.
    IMPL: ours (default precision), ours-fp32, ours-int8 or reference."""
    impl, folder, device, dtype = sys.argv[1:5]
    torch.manual_seed(0)
    where = Path(folder), torch.device(device), getattr(torch, dtype)
    if impl == "reference":
        print(json.dumps(run_reference(*where)))
    else:
        print(json.dumps(run_ours(*where, precision={"ours-fp32": "full", "ours-int8": "int8"}.get(impl))))


if __name__ == "__main__":
    main()
