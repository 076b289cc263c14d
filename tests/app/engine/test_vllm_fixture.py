"""The real vLLM servers the server-engine tests run against: they serve, guard the API key, restart, and what they
say for speech, compared with our own model on the same checkpoint.

Agreement with our model, measured on these checkpoints (fp32 on both sides): vLLM's offline path (the realtime
model through /v1/audio/transcriptions) reproduces our transcript exactly. Its realtime path (/v1/realtime) computes
the log-mel per 80 ms frame with a short look-back and look-ahead instead of over the whole signal, so its input
differs slightly at every frame edge; on random weights that changes the text after the first few characters. So
the realtime text is compared with ours by its first difference and a similarity figure (printed), and asserted
only to be the same on every run and to start as ours does.
"""

from __future__ import annotations

import copy
import difflib
import os
import time

import httpx2
import numpy as np
import pytest

from tests.fixtures.speech import espeak_speech
from tests.fixtures.vllm_clients import (
    SAMPLE_RATE,
    chat_text,
    pcm16,
    realtime_events,
    realtime_text,
    transcription_text,
    wav16,
)
from tests.fixtures.vllm_server import VllmServer

SENTENCE = "Captions should keep up with every word said in the meeting."


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """espeak speech at 16 kHz, rounded to PCM16 as it is sent, so our model hears exactly what vLLM hears."""
    audio, _ = espeak_speech(SENTENCE, rate=SAMPLE_RATE)
    return np.frombuffer(pcm16(audio), "<i2").astype(np.float32) / 32768


def first_difference(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def agreement(ours: str, theirs: str) -> str:
    if ours == theirs:
        return "identical"
    at = first_difference(ours, theirs)
    ratio = difflib.SequenceMatcher(None, ours, theirs).ratio()
    return f"first difference at character {at} (common start {ours[:at]!r}), similarity {ratio:.2f}"


def get_models(server: VllmServer, api_key: str | None) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx2.get(f"{server.base_url}/v1/models", headers=headers, timeout=30)


def group_ends(group: int, timeout_s: float = 10.0) -> bool:
    """Whether every process of the group has ended (and been reaped) within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("name", ["vllm_realtime", "vllm_voxtral"])
def test_the_server_lists_its_model(name: str, request: pytest.FixtureRequest) -> None:
    server: VllmServer = request.getfixturevalue(name)
    print(f"vLLM {server.model} started in {server.startup_s:.0f} s")
    response = get_models(server, server.api_key)
    assert response.status_code == 200, server.log_tail()
    assert [m["id"] for m in response.json()["data"]] == [server.model]
    assert server.folder.joinpath("consolidated.safetensors").is_file()


def test_a_wrong_or_missing_api_key_is_refused(vllm_realtime: VllmServer) -> None:
    assert get_models(vllm_realtime, "not-the-key").status_code == 401
    assert get_models(vllm_realtime, None).status_code == 401


def test_the_realtime_socket_refuses_a_wrong_api_key(vllm_realtime: VllmServer) -> None:
    from websockets.exceptions import InvalidStatus

    wrong = copy.copy(vllm_realtime)  # the same server, another key
    wrong.api_key = "not-the-key"
    with pytest.raises(InvalidStatus) as refused:
        realtime_text(wrong, b"\0\0" * 1280)
    assert refused.value.response.status_code in (401, 403)


def test_realtime_transcribes_speech_the_same_every_time_and_starts_as_ours(
    vllm_realtime: VllmServer, speech: np.ndarray
) -> None:
    from model import load_realtime

    first = realtime_events(vllm_realtime, pcm16(speech))
    again = realtime_text(vllm_realtime, pcm16(speech))
    assert first["text"] == again, "vLLM's realtime transcript changed between two runs"
    assert first["done"]["text"] == first["text"]  # the final event repeats the deltas joined
    assert len(set(first["text"])) >= 5, f"too little variety to compare: {first['text']!r}"

    ours = load_realtime(vllm_realtime.folder, device="cpu").transcribe(speech, SAMPLE_RATE).text
    print(f"vLLM realtime {first['text']!r} vs ours {ours!r}: {agreement(ours, first['text'])}")
    assert first["text"].split()[0] == ours.split()[0]


def test_the_offline_path_reproduces_our_transcript(vllm_realtime: VllmServer, speech: np.ndarray) -> None:
    from model import load_realtime

    ours = load_realtime(vllm_realtime.folder, device="cpu").transcribe(speech, SAMPLE_RATE)
    # Ours ends with the audio; vLLM's goes on to its token limit: a few tokens more than ours, so that it also
    # completes the UTF-8 sequences our text ends with.
    theirs = transcription_text(vllm_realtime, wav16(speech), "en", max_tokens=len(ours.token_ids) + 8)
    assert theirs.startswith(ours.text), agreement(ours.text, theirs)


def test_voxtral_answers_and_transcribes_the_same_every_time(vllm_voxtral: VllmServer, speech: np.ndarray) -> None:
    from model import load_voxtral

    wav = wav16(speech)
    answer = chat_text(vllm_voxtral, wav, "What is said here?", max_tokens=24)
    assert answer == chat_text(vllm_voxtral, wav, "What is said here?", max_tokens=24)
    assert answer.strip()
    text = transcription_text(vllm_voxtral, wav, "en", max_tokens=24)
    assert text == transcription_text(vllm_voxtral, wav, "en", max_tokens=24)

    ours = load_voxtral(vllm_voxtral.folder, device="cpu")
    our_answer = ours.chat([{"role": "user", "content": [{"type": "audio", "audio": speech, "sample_rate": SAMPLE_RATE},
                                                         {"type": "text", "text": "What is said here?"}]}],
                           max_new_tokens=24).text
    our_text = ours.transcribe(speech, SAMPLE_RATE, language="en", max_new_tokens=24).text
    print(f"vLLM chat {answer!r} vs ours {our_answer!r}: {agreement(our_answer, answer)}")
    print(f"vLLM transcription {text!r} vs ours {our_text!r}: {agreement(our_text, text)}")


def test_kill_and_start_bring_the_server_back(vllm_realtime: VllmServer, speech: np.ndarray) -> None:
    before = realtime_text(vllm_realtime, pcm16(speech))
    group = vllm_realtime.pid
    vllm_realtime.kill()
    with pytest.raises(httpx2.TransportError):
        get_models(vllm_realtime, vllm_realtime.api_key)
    assert group_ends(group), "vLLM's engine or worker processes outlived the server"
    vllm_realtime.start()
    print(f"vLLM realtime restarted in {vllm_realtime.startup_s:.0f} s")
    assert realtime_text(vllm_realtime, pcm16(speech)) == before
    assert "===== start" in vllm_realtime.log_text()
