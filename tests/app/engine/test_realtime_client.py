"""The realtime protocol client against a real vLLM (tests/fixtures/vllm_server.py): transcriptions, what it learns,
and one clear ServerError per cause of failure."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from app.engine.server.address import ServerError, parse_address
from app.engine.server.realtime_client import STEP_SAMPLES, Delta, Done, RealtimeConnection, connect, pcm16
from app.engine.server.server_facts import fetch_max_model_len, probe_delay_ms
from tests.fixtures.speech import espeak_speech
from tests.fixtures.tcp_proxy import TcpProxy
from tests.fixtures.vllm_clients import pcm16 as reference_pcm16
from tests.fixtures.vllm_clients import realtime_events
from tests.fixtures.vllm_server import free_port

TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def speech_pcm() -> bytes:
    audio, _ = espeak_speech("Captions should keep up with every word said in the meeting.")
    return reference_pcm16(audio)


def tekken_audio(server) -> dict:
    return json.loads((server.folder / "tekken.json").read_text())["audio"]


def address_of(server, api_key: str | None = "same"):
    return parse_address(server.base_url, server.api_key if api_key == "same" else api_key)


def transcribe(connection: RealtimeConnection, pcm: bytes) -> tuple[list[str], Done]:
    connection.start()
    for i in range(0, len(pcm), 2 * STEP_SAMPLES):
        connection.append(pcm[i : i + 2 * STEP_SAMPLES])
    connection.end()
    deltas: list[str] = []
    while not isinstance(event := connection.receive(TIMEOUT_S), Done):
        assert isinstance(event, Delta)
        deltas.append(event.text)
    return deltas, event


def test_pcm16_is_the_exact_inverse_of_the_servers_conversion() -> None:
    values = np.array([-32768, -32767, -1, 0, 1, 12345, 32767], dtype=np.int16)
    assert np.frombuffer(pcm16(values.astype(np.float32) / 32768.0), "<i2").tolist() == values.tolist()
    assert np.frombuffer(pcm16(np.array([-2.0, 2.0], dtype=np.float32)), "<i2").tolist() == [-32768, 32767]


def test_a_transcription_gives_what_the_independent_client_gets(vllm_realtime, speech_pcm) -> None:
    reference = realtime_events(vllm_realtime, speech_pcm)
    connection = connect(address_of(vllm_realtime), vllm_realtime.model)
    try:
        deltas, done = transcribe(connection, speech_pcm)
        assert "".join(deltas) == reference["text"] and len(reference["deltas"]) >= 3
        assert done.text == reference["text"]
        audio = tekken_audio(vllm_realtime)  # BOS + left padding + delay steps, as server_facts reads it
        assert done.prompt_tokens == 1 + audio["streaming_n_left_pad_tokens"] + audio["transcription_delay_ms"] // 80
        # One delta per 80 ms step: the audio's steps, then the server's end padding.
        assert len(deltas) >= len(speech_pcm) / (2 * STEP_SAMPLES)
        # The same socket serves the next transcription (a long stream starts new ones on it).
        again, _ = transcribe(connection, speech_pcm)
        assert "".join(again) == reference["text"]
    finally:
        connection.close()


def test_the_servers_delay_and_length_limit_are_learned(vllm_realtime) -> None:
    address = address_of(vllm_realtime)
    connection = connect(address, vllm_realtime.model)
    try:
        assert probe_delay_ms(connection, TIMEOUT_S) == tekken_audio(vllm_realtime)["transcription_delay_ms"]
    finally:
        connection.close()
    assert fetch_max_model_len(address, vllm_realtime.model, TIMEOUT_S) == 4096  # the fixture's --max-model-len
    assert fetch_max_model_len(address, "no-such-model", TIMEOUT_S) is None


def test_a_wrong_api_key_is_named_and_never_shown(vllm_realtime, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # whatever logs the handshake must not log the key
    with pytest.raises(ServerError) as wrong:
        connect(address_of(vllm_realtime, "not-the-key-4711"), vllm_realtime.model)
    assert wrong.value.kind == "auth"
    assert str(wrong.value) == f"The server at {vllm_realtime.base_url} refused the API key. Check it in " \
                               "Settings → Engine."
    with pytest.raises(ServerError) as missing:
        connect(address_of(vllm_realtime, None), vllm_realtime.model)
    assert missing.value.kind == "auth" and "wants an API key" in str(missing.value)
    connect(address_of(vllm_realtime), vllm_realtime.model).close()
    assert "not-the-key-4711" not in caplog.text and vllm_realtime.api_key not in caplog.text


def test_a_model_the_server_does_not_serve_is_named(vllm_realtime) -> None:
    connection = connect(address_of(vllm_realtime), "no-such-model")
    try:
        with pytest.raises(ServerError) as error:
            connection.start()
            connection.receive(TIMEOUT_S)
    finally:
        connection.abort()
    assert error.value.kind == "model"
    assert "does not serve the model “no-such-model”" in str(error.value)
    assert "Settings → Engine lists the models it serves" in str(error.value)


def test_a_server_that_is_not_running_cannot_be_reached() -> None:
    address = parse_address(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ServerError) as error:
        connect(address, "any")
    assert error.value.kind == "unreachable"
    assert str(error.value) == (f"The server at {address.base_url} cannot be reached (connection refused). Check the "
                                "address in Settings → Engine and that the server is running.")


def test_an_unknown_host_name_cannot_be_reached() -> None:
    with pytest.raises(ServerError) as error:
        connect(parse_address("http://no-such-host.invalid:8000"), "any", open_timeout=10)
    assert error.value.kind == "unreachable" and "(its name is not known)" in str(error.value)


def test_https_to_a_plain_http_server_is_a_tls_failure(vllm_realtime) -> None:
    with pytest.raises(ServerError) as error:
        connect(parse_address(vllm_realtime.base_url.replace("http://", "https://")), vllm_realtime.model)
    assert error.value.kind == "tls" and "secure connection" in str(error.value)


class _Answer(BaseHTTPRequestHandler):
    """A plain HTTP server's answer to the WebSocket handshake: ``status`` with ``headers``."""

    protocol_version = "HTTP/1.1"  # what a WebSocket client accepts
    status = 404
    headers_out: dict[str, str] = {}

    def do_GET(self) -> None:  # noqa: N802 — http.server's name
        self.send_response(self.status)
        for key, value in self.headers_out.items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator:
    servers: list[ThreadingHTTPServer] = []

    def start(status: int, headers: dict[str, str] | None = None) -> str:
        handler = type("Handler", (_Answer,), {"status": status, "headers_out": headers or {}})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_redirect_is_not_followed(http_server) -> None:
    # Where the redirect points, a listener notes whether anything arrives: nothing may.
    elsewhere = socket.socket()
    elsewhere.bind(("127.0.0.1", 0))
    elsewhere.listen(1)
    elsewhere.settimeout(0.5)
    target = f"ws://127.0.0.1:{elsewhere.getsockname()[1]}/v1/realtime"
    url = http_server(307, {"Location": target})
    try:
        with pytest.raises(ServerError) as error:
            connect(parse_address(url, "secret-key"), "any")
        assert error.value.kind == "address" and "does not follow redirects" in str(error.value)
        with pytest.raises(TimeoutError):
            elsewhere.accept()
    finally:
        elsewhere.close()


def test_a_server_without_the_realtime_endpoint_is_told_apart(http_server) -> None:
    with pytest.raises(ServerError) as error:
        connect(parse_address(http_server(404)), "any")
    assert error.value.kind == "protocol" and "/v1/realtime" in str(error.value)


def test_a_dropped_connection_is_reported_as_lost(vllm_realtime) -> None:
    with TcpProxy("127.0.0.1", vllm_realtime.port) as proxy:
        address = parse_address(f"http://127.0.0.1:{proxy.port}", vllm_realtime.api_key)
        connection = connect(address, vllm_realtime.model)
        connection.start()
        connection.append(pcm16(np.zeros(STEP_SAMPLES, dtype=np.float32)))
        proxy.cut()
        with pytest.raises(ServerError) as error:
            while True:
                connection.receive(TIMEOUT_S)
        connection.abort()
    assert error.value.kind == "unreachable"
    assert str(error.value).startswith(f"The connection to the server at {address.base_url} was lost")
