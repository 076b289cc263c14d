"""Measuring Voxtral Realtime served by vLLM, through the program's own realtime client; runs in a process of its own.

Starts a vLLM server (the CPU build's environment, as the tests set it up) on the benchmark's checkpoint written in
the native layout, on 127.0.0.1, and streams the same audio as the local implementations get:

- **per-step time**: all audio sent at once; the interval between the server's 80 ms steps (its decoding speed);
- **latency**: audio sent in real time, 80 ms per chunk; how long after the chunk a step needs was sent its text
  arrives (step k needs the audio up to step k + the delay). For a local model this is its step time;
- **network path**: the round-trip time of a small request (``/v1/models``) on an open connection.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

from app.engine.server.address import parse_address
from app.engine.server.http_client import probe
from app.engine.server.realtime_client import STEP_SAMPLES, Delta, Done, RealtimeConnection, connect, pcm16
from app.engine.server.server_facts import STEP_MS, delay_ms_from_prompt
from model.bench.realtime import synthetic_audio

MODEL = "bench-realtime"
TIMEOUT_S = 600.0


def _stream(connection: RealtimeConnection, chunks: list[bytes], pace_s: float) -> tuple[list[float], list[float],
                                                                                          int | None]:
    """One transcription: the time each chunk was sent, the time each step's delta came, and the delay (ms)."""
    sent: list[float] = []

    def send() -> None:
        start = time.perf_counter()
        for i, chunk in enumerate(chunks):
            if pace_s:
                time.sleep(max(0.0, start + i * pace_s - time.perf_counter()))
            connection.append(chunk)
            sent.append(time.perf_counter())
        connection.end()

    connection.start()
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    came: list[float] = []
    while True:
        event = connection.receive(TIMEOUT_S)
        if isinstance(event, Delta):
            came.append(time.perf_counter())
        elif isinstance(event, Done):
            sender.join()
            return sent, came, delay_ms_from_prompt(event.prompt_tokens)


def _ms(values: list[float]) -> tuple[float, float]:
    ms = np.array(values) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def run(folder: Path, seconds: float, python: Path) -> dict:
    from tests.fixtures.vllm_server import VllmServer

    audio = synthetic_audio(seconds)
    chunks = [pcm16(audio[i : i + STEP_SAMPLES]) for i in range(0, audio.size, STEP_SAMPLES)]
    server = VllmServer(python, folder, MODEL, folder.parent / "vllm-server.log", api_key=None)
    server.start()
    try:
        address = parse_address(server.base_url)
        rtt_ms = probe(address).rtt_ms
        connection = connect(address, MODEL, open_timeout=TIMEOUT_S)
        try:
            _stream(connection, chunks[:25], 0.0)  # warm-up: the first transcription compiles and allocates
            t = time.perf_counter()
            _, came, _ = _stream(connection, chunks, 0.0)
            fast_s = time.perf_counter() - t
            sent, arrived, delay_ms = _stream(connection, chunks, STEP_MS / 1000)
        finally:
            connection.close()
    except Exception:
        print(server.log_tail(40), file=sys.stderr)  # the server's own account (e.g. a size its kernels refuse)
        raise
    finally:
        server.stop()
    steps = list(np.diff(came[1:]))  # [0] comes with the prompt's prefill
    delay = (delay_ms or 480) // STEP_MS
    latency = [arrived[k] - sent[k + delay] for k in range(len(arrived)) if k + delay < len(sent)]
    step_p50, step_p95 = _ms(steps)
    latency_p50, latency_p95 = _ms(latency)
    return {"steps": len(steps), "step_p50_ms": step_p50, "step_p95_ms": step_p95, "rtf": fast_s / seconds,
            "latency_p50_ms": latency_p50, "latency_p95_ms": latency_p95, "rtt_ms": rtt_ms, "delay_ms": delay_ms,
            "load_s": server.startup_s, "peak_bytes": 0}


def main() -> None:
    """Child-process entry: python -m model.bench.vllm NATIVE_FOLDER SECONDS VLLM_PYTHON -> one JSON line."""
    folder, seconds, python = sys.argv[1:4]
    print(json.dumps(run(Path(folder), float(seconds), Path(python))))


if __name__ == "__main__":
    main()
