"""The OpenAI-style HTTP client against a real vLLM (the CPU build, serving a tiny random Voxtral with an API key):
the models it serves, chat completions streamed and not, transcriptions, aborts the server sees, and one clear
ServerError for each fault."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import numpy as np
import pytest

from app.engine.server.address import ServerError, parse_address
from app.engine.server.cancel import Cancel, Cancelled
from app.engine.server.http_client import HttpClient, ServedModel, probe
from tests.fixtures.speech import espeak_speech
from tests.fixtures.tcp_proxy import TcpProxy
from tests.fixtures.vllm_clients import chat_text, transcription_text, wav16
from tests.fixtures.vllm_server import free_port

QUESTION = "What is said?"
LONG_ANSWER = 1500  # tokens: seconds of generation on the tiny CPU server, so a stop lands while it still runs
WAIT_S = 600.0  # for what a busy 2-core machine may take; nothing waits this long when all is well


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    audio, _ = espeak_speech("The budget for next quarter was approved.")
    return audio


def client_of(server, api_key: str | None = "") -> HttpClient:
    """A client for ``server`` with its own API key (``api_key``: another one, or None for none)."""
    return HttpClient(parse_address(server.base_url, server.api_key if api_key == "" else api_key))


def audio_question(wav: bytes, question: str = QUESTION) -> list[dict]:
    """One user turn as OpenAI messages: the WAV clip, then the question (as the independent client sends it)."""
    return [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": base64.b64encode(wav).decode(), "format": "wav"}},
        {"type": "text", "text": question}]}]


def served_counts(server) -> dict[str, float]:
    """From the server's Prometheus metrics: requests running now, requests it finished (a request whose client left
    counts as none) and tokens generated so far."""
    text = httpx2.get(f"{server.base_url}/metrics", headers=server.auth_headers(), timeout=30).text

    def total(name: str, skip: str = "\0") -> float:
        return sum(float(value) for labels, value in re.findall(rf"^vllm:{name}\{{([^}}]*)\}} (\S+)$", text, re.M)
                   if skip not in labels)

    return {"running": total("num_requests_running"),
            "finished": total("request_success_total", skip='finished_reason="abort"'),
            "generated": total("generation_tokens_total")}


def wait_for(condition, what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


# -- what the server serves --------------------------------------------------------------------------------------
def test_models_and_the_connection_test(vllm_voxtral) -> None:
    client = client_of(vllm_voxtral)
    assert client.models() == [ServedModel(vllm_voxtral.model, 4096)]  # the fixture's --max-model-len
    assert client.served(vllm_voxtral.model) == ServedModel(vllm_voxtral.model, 4096)
    report = probe(parse_address(vllm_voxtral.base_url, vllm_voxtral.api_key))
    assert report.reachable and report.models == (ServedModel(vllm_voxtral.model, 4096),)
    assert report.rtt_ms is not None and report.rtt_ms > 0 and report.error_kind is None
    assert report.message == (f"The server at {vllm_voxtral.base_url} answers: it serves {vllm_voxtral.model} "
                              f"(4,096 tokens of context). A round trip takes {report.rtt_ms:.0f} ms.")
    down = probe(parse_address(f"127.0.0.1:{free_port()}"))
    assert not down.reachable and down.error_kind == "unreachable" and "cannot be reached" in down.message


# -- answers and transcriptions equal the independent client's ---------------------------------------------------
def test_streamed_chat_equals_the_independent_non_streamed_answer(vllm_voxtral, speech) -> None:
    client, wav = client_of(vllm_voxtral), wav16(speech)
    expected = chat_text(vllm_voxtral, wav, QUESTION, max_tokens=64, timeout_s=WAIT_S)
    assert expected.strip()  # the tiny model says something here: the comparison is not between two empty texts
    stream = client.stream_chat(vllm_voxtral.model, audio_question(wav), max_tokens=64)
    try:
        deltas = list(stream)
    finally:
        stream.close()
    assert len(deltas) > 1 and all(deltas) and "".join(deltas) == expected
    assert stream.finish_reason == "length"  # 64 tokens, no end of answer on random weights
    reply = client.chat(vllm_voxtral.model, audio_question(wav), max_tokens=64)
    assert reply.text == expected and reply.finish_reason == "length"


def test_transcription_equals_the_independent_one(vllm_voxtral, speech) -> None:
    # The random model talks until the context is full: eight chunks of audio (3000 tokens) leave it about 1000.
    client, wav = client_of(vllm_voxtral), wav16(np.resize(speech, 230 * 16000))
    expected = transcription_text(vllm_voxtral, wav, "en", timeout_s=WAIT_S)
    assert expected.strip()
    assert client.transcribe(vllm_voxtral.model, wav, language="en") == expected
    stream = client.stream_transcription(vllm_voxtral.model, wav, language="en")
    try:
        deltas = list(stream)
    finally:
        stream.close()
    assert len(deltas) > 1 and "".join(deltas) == expected and stream.finish_reason is not None


# -- stopping ---------------------------------------------------------------------------------------------------------
# vLLM's metrics are updated when a request ends (and its log says nothing when a streamed answer loses its client), so
# the server's side of a stop is shown by what it did not finish.
CHAT_POST = '"POST /v1/chat/completions HTTP/1.1" 200'  # uvicorn's access line: the answer's stream has begun


def test_abort_from_another_thread_ends_the_stream_and_the_server_drops_the_answer(vllm_voxtral, speech) -> None:
    client, wav = client_of(vllm_voxtral), wav16(speech)
    before, posts = served_counts(vllm_voxtral), vllm_voxtral.log_text().count(CHAT_POST)
    stream = client.stream_chat(vllm_voxtral.model, audio_question(wav), max_tokens=LONG_ANSWER)
    deltas: list[str] = []
    reader = threading.Thread(target=lambda: deltas.extend(stream))
    reader.start()
    wait_for(lambda: vllm_voxtral.log_text().count(CHAT_POST) > posts, "the server never began the answer")
    stream.abort()
    reader.join()  # the iteration ended: nothing more arrives
    stream.close()
    assert stream.finish_reason is None
    # The same request again, to its end. Had the server kept the first one, it would have finished before this one
    # (as long, begun earlier, decoded in the same batches) and been counted with it.
    full = chat_text(vllm_voxtral, wav, QUESTION, max_tokens=LONG_ANSWER, timeout_s=WAIT_S)
    wait_for(lambda: served_counts(vllm_voxtral)["finished"] > before["finished"], "the second answer is not counted")
    after = served_counts(vllm_voxtral)
    assert after["finished"] == before["finished"] + 1, "the server finished the answer its client had left"
    assert len(full) > len("".join(deltas)) and full.startswith("".join(deltas))


def test_cancel_closes_a_transcription_under_way(vllm_voxtral, speech) -> None:
    client, wav = client_of(vllm_voxtral), wav16(np.tile(speech, 3))  # one chunk: it transcribes to the context's end
    # Nothing tells from outside when the server has begun, so the cancel comes later and later until the server
    # says it saw one (it logs each); the whole transcription takes several times the longest wait.
    for wait_s in (0.25, 0.5, 1.0, 2.0):
        seen = vllm_voxtral.log_text().count("cancelled; aborting")
        cancel = Cancel()
        timer = threading.Timer(wait_s, cancel.set)
        timer.start()
        with pytest.raises(Cancelled):
            client.transcribe(vllm_voxtral.model, wav, language="en", cancel=cancel)
        timer.join()
        try:
            wait_for(lambda seen=seen: vllm_voxtral.log_text().count("cancelled; aborting") > seen, "", 10.0)
        except AssertionError:
            continue  # cancelled before the server had the request: wait longer
        break
    else:
        pytest.fail("the server never saw a transcription cancelled")
    with pytest.raises(Cancelled):  # cancelled before it starts: nothing is sent
        client.models(cancel=cancel)


# -- faults, each with one clear message ----------------------------------------------------------------------------
def raised(call) -> ServerError:
    with pytest.raises(ServerError) as info:
        call()
    return info.value


def streamed(client: HttpClient, model: str, messages: list[dict]) -> ServerError:
    def run() -> None:
        stream = client.stream_chat(model, messages, max_tokens=4)
        try:
            list(stream)
        finally:
            stream.close()

    return raised(run)


def test_a_wrong_or_missing_api_key(vllm_voxtral, speech) -> None:
    url, messages = vllm_voxtral.base_url, audio_question(wav16(speech))
    wrong = client_of(vllm_voxtral, "not-the-key-1234")
    for error in (raised(wrong.models), streamed(wrong, vllm_voxtral.model, messages),
                  raised(lambda: wrong.transcribe(vllm_voxtral.model, wav16(speech)))):
        assert error.kind == "auth"
        assert str(error) == f"The server at {url} refused the API key. Check it in Settings → Engine."
    assert "not-the-key-1234" not in repr(wrong.address)
    missing = raised(client_of(vllm_voxtral, None).models)
    assert (missing.kind, str(missing)) == ("auth", f"The server at {url} wants an API key. Enter it in Settings → "
                                                    "Engine.")


def test_a_model_the_server_does_not_serve(vllm_voxtral, speech) -> None:
    client, messages = client_of(vllm_voxtral), audio_question(wav16(speech))
    said = (f"The server at {vllm_voxtral.base_url} does not serve the model “no-such-model”. It serves: "
            f"{vllm_voxtral.model}. Choose one in Settings → Engine.")
    for error in (raised(lambda: client.served("no-such-model")),
                  raised(lambda: client.chat("no-such-model", messages, max_tokens=4)),
                  streamed(client, "no-such-model", messages),
                  raised(lambda: client.transcribe("no-such-model", wav16(speech)))):
        assert (error.kind, str(error)) == ("model", said)


def test_a_server_that_is_not_running(speech) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = HttpClient(parse_address(url, "some-key"))
    said = (f"The server at {url} cannot be reached (connection refused). Check the address in Settings → Engine "
            "and that the server is running.")
    for error in (raised(client.models), streamed(client, "tiny-voxtral", audio_question(wav16(speech)))):
        assert (error.kind, str(error)) == ("unreachable", said)


def test_tls_to_a_server_without_it(vllm_voxtral) -> None:
    https = vllm_voxtral.base_url.replace("http:", "https:")
    error = raised(HttpClient(parse_address(https, vllm_voxtral.api_key)).models)
    assert error.kind == "tls" and str(error).startswith(f"The secure connection to the server at https://127.0.0.1:"
                                                         f"{vllm_voxtral.port} failed (")


def test_a_prompt_longer_than_the_context(vllm_voxtral, speech) -> None:
    long = np.tile(speech, 200)[: 340 * 16000]  # 12 chunks of 375 tokens: more than 4096
    error = raised(lambda: client_of(vllm_voxtral).chat(vllm_voxtral.model, audio_question(wav16(long)),
                                                        max_tokens=4))
    assert error.kind == "limit"
    assert str(error).startswith(f"The server at {vllm_voxtral.base_url} refused the request: This model's maximum "
                                 "context length is 4096 tokens.")


def test_a_connection_cut_mid_answer(vllm_voxtral, speech) -> None:
    with TcpProxy("127.0.0.1", vllm_voxtral.port) as proxy:
        client = HttpClient(parse_address(f"127.0.0.1:{proxy.port}", vllm_voxtral.api_key))
        stream = client.stream_chat(vllm_voxtral.model, audio_question(wav16(speech)), max_tokens=LONG_ANSWER)
        try:
            assert next(stream)
            proxy.cut()
            with pytest.raises(ServerError) as cut:
                list(stream)
        finally:
            stream.close()
    assert cut.value.kind == "unreachable"
    assert str(cut.value).startswith(f"The connection to the server at http://127.0.0.1:{proxy.port} was lost while "
                                     "answering (")


# -- servers that answer wrongly (a small HTTP server of the test's own: vLLM does not misbehave on request) -------
class Misbehaving(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 — the name http.server calls
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/v1/chat/completions":
            behaviour = self.server.behaviour
            if behaviour == "500":
                self._send(500, "application/json", json.dumps({"error": {"message": "boom"}}).encode())
            elif behaviour == "no-done":
                chunk = {"choices": [{"delta": {"content": "Hel"}, "finish_reason": None}]}
                self._send(200, "text/event-stream", f"data: {json.dumps(chunk)}\n\n".encode())
            elif behaviour == "garbage":
                self._send(200, "text/event-stream", b"data: {not json\n\n")
            elif behaviour == "error-event":
                self._send(200, "text/event-stream", b'data: {"error": {"message": "engine died", "code": 500}}\n\n')

    def _send(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def misbehaving():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("behaviour", "kind", "said"), [
    ("500", "server", "failed (HTTP 500: boom). Try again; if it keeps failing, see the server's log."),
    ("no-done", "unreachable", "was lost while answering (the stream ended early)."),
    ("garbage", "protocol", "sent a stream event that is not JSON; is it a vLLM server?"),
    ("error-event", "server", "failed while answering: engine died"),
])
def test_a_server_that_answers_wrongly(misbehaving, behaviour, kind, said) -> None:
    misbehaving.behaviour = behaviour
    client = HttpClient(parse_address(f"127.0.0.1:{misbehaving.server_port}"))
    error = streamed(client, "m", [{"role": "user", "content": "Hi"}])
    assert error.kind == kind and said in str(error)
