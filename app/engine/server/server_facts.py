"""What the program learns about a realtime server and cannot set: its caption delay and its length limit.

vLLM fixes the delay per server (``transcription_delay_ms`` in the model's ``tekken.json``) and tells it nowhere
directly; a transcription's usage does: its ``prompt_tokens`` are 1 BOS + the left padding (32 steps for Voxtral
Realtime) + the delay steps. The length limit is ``max_model_len`` of ``/v1/models``, in 80 ms positions.
"""

from __future__ import annotations

import threading

import httpx2
import numpy as np

from app.engine.server.address import ServerAddress
from app.engine.server.realtime_client import STEP_SAMPLES, Done, RealtimeConnection, pcm16

STEP_MS = 80
LEFT_PAD_STEPS = 32  # Voxtral Realtime's streaming_n_left_pad_tokens; vLLM counts them in the prompt


def delay_ms_from_prompt(prompt_tokens: int | None) -> int | None:
    """The server's delay from a transcription's ``prompt_tokens``; None when they do not fit the model's layout."""
    if prompt_tokens is None:
        return None
    steps = prompt_tokens - 1 - LEFT_PAD_STEPS
    return steps * STEP_MS if 0 <= steps <= 100 else None


def probe_delay_ms(connection: RealtimeConnection, timeout: float) -> int | None:
    """Transcribe 80 ms of silence on ``connection`` (which stays usable) and read the delay from its usage.

    ServerError when the server fails (a model it does not serve shows here), TimeoutError without an answer.
    """
    connection.start()
    connection.append(pcm16(np.zeros(STEP_SAMPLES, dtype=np.float32)))
    connection.end()
    while not isinstance(event := connection.receive(timeout), Done):
        pass
    return delay_ms_from_prompt(event.prompt_tokens)


def fetch_max_model_len(address: ServerAddress, model: str, timeout: float) -> int | None:
    """``max_model_len`` of ``model`` as ``/v1/models`` lists it; None when the server does not say."""
    try:
        response = httpx2.get(address.url("/v1/models"), headers=address.headers(), timeout=timeout,
                              follow_redirects=False, trust_env=False)  # only ever the configured server
        entries = response.json().get("data") if response.status_code == 200 else None
    except (httpx2.HTTPError, ValueError, AttributeError):
        return None
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and entry.get("id") == model and isinstance(entry.get("max_model_len"), int):
            return entry["max_model_len"]
    return None


class ServerFacts:
    """What is known about one server so far, shared by its streams (thread-safe); None: not known (yet)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._delay_ms: int | None = None
        self._max_model_len: int | None = None
        self._limits_asked = False
        self._answered = False

    @property
    def delay_ms(self) -> int | None:
        with self._lock:
            return self._delay_ms

    @property
    def max_model_len(self) -> int | None:
        with self._lock:
            return self._max_model_len

    @property
    def answered(self) -> bool:
        """The server has transcribed for one of its streams: it is the right kind of server."""
        with self._lock:
            return self._answered

    def note_answered(self) -> None:
        with self._lock:
            self._answered = True

    def learn_delay(self, delay_ms: int | None) -> None:
        if delay_ms is not None:
            with self._lock:
                self._delay_ms = delay_ms

    def claim_limits_question(self) -> bool:
        """True once: the caller asks the server for its limits (a server that does not say is not asked again)."""
        with self._lock:
            first, self._limits_asked = not self._limits_asked, True
            return first

    def learn_max_model_len(self, positions: int | None) -> None:
        if positions is not None:
            with self._lock:
                self._max_model_len = positions
