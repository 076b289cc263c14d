"""Questions about recordings answered by a real vLLM (the CPU build serving a tiny random Voxtral): the chat
controller with the server backend, its answers checked against requests an independent client makes."""

from __future__ import annotations

import base64
from dataclasses import replace

import httpx2
import numpy as np
import pytest

from app.chat import store
from app.chat.clips import ClipSource
from app.chat.controller import ChatController
from app.chat.model import ChatTurn, Clip
from app.chat.server_models import ServerChatModels
from app.engine.server.address import parse_address
from app.engine.server.server_voxtral import ServerVoxtral
from app.events import MODEL_RATE, Severity
from app.library.index import Library
from tests.app.library.sessions import MEETING, make_session
from tests.fixtures.speech import espeak_speech
from tests.fixtures.vllm_clients import chat_text, wav16
from tests.fixtures.vllm_server import free_port

WAIT_MS = 600000  # for what a busy 2-core machine may take; nothing waits this long when all is well
LONG_ANSWER = 400  # tokens


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    audio, _ = espeak_speech("Let's talk about the budget. Sure, the numbers look fine.")
    return audio


@pytest.fixture
def session(tmp_path, speech):
    folder = make_session(tmp_path, "Budget", MEETING, {"mic": np.pad(speech, (0, 7 * MODEL_RATE - speech.size))})
    return Library(tmp_path), folder.name


class Recorded:
    """The served model, remembering every conversation it is asked; ``after_delta()`` runs on the worker's thread
    once the answer's first delta has been taken (when the next is asked for)."""

    def __init__(self, model: ServerVoxtral, asked: list, after_delta=None) -> None:
        self.model, self.asked, self.after_delta = model, asked, after_delta

    def __getattr__(self, name: str):
        return getattr(self.__dict__["model"], name)

    def stream_chat(self, conversation, **kwargs):
        self.asked.append(conversation)
        stream = self.model.stream_chat(conversation, **kwargs)
        return stream if self.after_delta is None else Observed(stream, self.after_delta)


class Observed:
    """The served stream as shipped (``abort`` included), calling ``after_delta()`` before the second delta."""

    def __init__(self, stream, after_delta) -> None:
        self.stream, self.after_delta, self.taken = stream, after_delta, 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.taken == 1:
            self.after_delta()
        delta = next(self.stream)
        self.taken += 1
        return delta

    def __getattr__(self, name: str):  # finish_reason, abort, close
        return getattr(self.__dict__["stream"], name)


class RecordingModels(ServerChatModels):
    """The server backend as shipped; what it is asked is recorded, and ``max_model_len`` (if given) stands for a
    server with a shorter context, so that long audio is split sooner."""

    def __init__(self, server, *, api_key: str | None = "", model: str | None = None,
                 max_model_len: int | None = None, after_delta=None) -> None:
        key = server.api_key if api_key == "" else api_key
        super().__init__(parse_address(server.base_url, key), model or server.model)
        self.max_model_len, self.after_delta, self.asked = max_model_len, after_delta, []

    def acquire(self, **kwargs):
        model = super().acquire(**kwargs)
        if self.max_model_len is not None:
            model = ServerVoxtral(model.client, replace(model.served, max_model_len=self.max_model_len))
        return Recorded(model, self.asked, self.after_delta)


def make_controller(library, models, **kwargs):
    controller = ChatController(library, models, **kwargs)
    seen = {"turns": [], "deltas": [], "notices": [], "progress": []}
    controller.turnAdded.connect(seen["turns"].append)
    controller.delta.connect(seen["deltas"].append)
    controller.notice.connect(seen["notices"].append)
    controller.progress.connect(lambda f, w: seen["progress"].append((f, w)))
    return controller, seen


def ask(qtbot, controller, question, clips=()) -> None:
    with qtbot.waitSignal(controller.busyChanged, timeout=WAIT_MS, check_params_cb=lambda busy: not busy):
        controller.ask(question, clips)


def as_openai(conversation) -> list[dict]:
    """A conversation in the model's format as OpenAI messages, built here apart from the program's own conversion."""
    out = []
    for message in conversation:
        content = message["content"]
        if not isinstance(content, str):
            content = [{"type": "text", "text": p["text"]} if p["type"] == "text" else
                       {"type": "input_audio", "input_audio": {"data": base64.b64encode(wav16(p["audio"])).decode(),
                                                               "format": "wav"}} for p in content]
        out.append({"role": message["role"], "content": content})
    return out


def answer_of(server, conversation, max_tokens: int) -> str:
    """The server's answer to ``conversation``, not streamed, asked as the independent client asks (greedy)."""
    body = {"model": server.model, "messages": as_openai(conversation), "temperature": 0.0, "max_tokens": max_tokens,
            "stream": False}
    response = httpx2.post(f"{server.base_url}/v1/chat/completions", json=body, headers=server.auth_headers(),
                           timeout=WAIT_MS / 1000)
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


def test_the_served_model_answers_as_the_independent_client(vllm_voxtral, speech) -> None:
    model = ServerChatModels(parse_address(vllm_voxtral.base_url, vllm_voxtral.api_key), vllm_voxtral.model).acquire()
    assert model.max_audio_seconds == 240.0  # (4096 - 1024) // 375 whole 30 s chunks
    stream = model.stream_chat([{"role": "user", "content": [
        {"type": "audio", "audio": speech, "sample_rate": MODEL_RATE}, {"type": "text", "text": "What is said?"}]}],
        max_new_tokens=48)
    try:
        deltas = list(stream)
    finally:
        stream.close()
    expected = chat_text(vllm_voxtral, wav16(speech), "What is said?", max_tokens=48, timeout_s=WAIT_MS / 1000)
    assert expected.strip() and len(deltas) > 1 and "".join(deltas) == expected
    assert stream.finish_reason == "length"


def test_a_question_streams_the_servers_answer_and_saves_it(qtbot, vllm_voxtral, session) -> None:
    library, sid = session
    models = RecordingModels(vllm_voxtral)
    controller, seen = make_controller(library, models, max_new_tokens=40)
    conversation = controller.open(sid)
    ask(qtbot, controller, "What about the budget?")
    user, answer = seen["turns"]
    assert user == ChatTurn("user", "What about the budget?", (Clip(sid),))
    (asked,) = models.asked
    np.testing.assert_array_equal(asked[0]["content"][0]["audio"], ClipSource(library).audio(Clip(sid)).samples)
    expected = answer_of(vllm_voxtral, asked, 40)
    assert expected.strip() and len(seen["deltas"]) > 1 and "".join(seen["deltas"]) == answer.text == expected
    assert answer.finish_reason == "length"
    assert store.load(library.folder(sid), conversation.id) == controller.conversation
    where = vllm_voxtral.base_url
    assert seen["progress"][:2] == [(0.0, f"Asking the server at {where} for Voxtral Mini 3B…"),
                                    (1.0, f"Voxtral Mini 3B is ready on the server at {where}.")]
    assert not [n for n in seen["notices"] if n.severity is Severity.ERROR]


def test_stop_mid_answer_keeps_the_partial_answer(qtbot, vllm_voxtral, session) -> None:
    library, sid = session
    stop = []  # Stop is pressed right after the first delta (from the worker's thread, so exactly then)
    models = RecordingModels(vllm_voxtral, after_delta=lambda: stop[0]())
    controller, seen = make_controller(library, models, max_new_tokens=LONG_ANSWER)
    stop.append(controller.stop)
    controller.open(sid)
    ask(qtbot, controller, "Tell me everything.")
    answer = seen["turns"][-1]
    assert answer.finish_reason == "stopped" and answer.text and seen["deltas"] == [answer.text]  # nothing more
    full = answer_of(vllm_voxtral, models.asked[0], LONG_ANSWER)
    assert full.startswith(answer.text) and len(full) > len(answer.text)  # it stopped mid-answer
    assert store.load(library.folder(sid), controller.conversation.id).turns[-1] == answer


def test_a_follow_up_keeps_the_audio(qtbot, vllm_voxtral, session) -> None:
    library, sid = session
    models = RecordingModels(vllm_voxtral)
    controller, seen = make_controller(library, models, max_new_tokens=16)
    controller.open(sid)
    clip = Clip(sid, 0.5, 3.0)
    ask(qtbot, controller, "What is said?", [clip])
    ask(qtbot, controller, "And then?")
    first, follow_up = models.asked
    assert [m["role"] for m in follow_up] == ["user", "assistant", "user"]
    np.testing.assert_array_equal(follow_up[0]["content"][0]["audio"], ClipSource(library).audio(clip).samples)
    assert [p.get("text") for p in follow_up[0]["content"]] == [p.get("text") for p in first[0]["content"]]
    assert follow_up[1:] == [{"role": "assistant", "content": seen["turns"][1].text},
                             {"role": "user", "content": "And then?"}]
    assert seen["turns"][3].text == answer_of(vllm_voxtral, follow_up, 16)  # the audio went with it


def test_a_long_recording_is_asked_in_parts_and_combined(qtbot, vllm_voxtral, speech, tmp_path) -> None:
    audio = np.resize(speech, 100 * MODEL_RATE)
    sid = make_session(tmp_path, "Long", [], {"mic": audio}).name
    models = RecordingModels(vllm_voxtral, max_model_len=1024 + 2 * 375)  # a server that takes 60 s at once
    controller, seen = make_controller(Library(tmp_path), models, max_new_tokens=12)
    controller.open(sid)
    ask(qtbot, controller, "Summary?")
    answer = seen["turns"][-1]
    assert len(models.asked) == 3  # two parts of 50 s, then the combination
    assert answer.note == ("The recording is 2 min long, more than the 1 min the model takes at once: it was split "
                           "into 2 parts of 50 s; each was asked and the answers combined.")
    assert [w for _, w in seen["progress"] if w.startswith(("Asking part", "Combining"))] == [
        "Asking part 1 of 2 (00:00–00:50)…", "Asking part 2 of 2 (00:50–01:40)…", "Combining the answers…"]
    for n, part in enumerate(models.asked[:2]):
        expected = ClipSource(Library(tmp_path)).audio(Clip(sid, 50.0 * n, 50.0 * (n + 1))).samples
        np.testing.assert_array_equal(part[0]["content"][0]["audio"], expected)
    parts = [answer_of(vllm_voxtral, asked, 12) for asked in models.asked[:2]]
    combine = models.asked[2][-1]["content"]
    assert all(f"Answer from part {n} (" in combine and (text.strip() or "(no answer)") in combine
               for n, text in enumerate(parts, start=1))
    assert answer.text == "".join(seen["deltas"]) == answer_of(vllm_voxtral, models.asked[2], 12)


@pytest.mark.parametrize("fault", ["key", "model", "down", "limit"])
def test_faults_are_one_clear_notice_and_an_answer_marked_failed(qtbot, vllm_voxtral, session, tmp_path,
                                                                 fault) -> None:
    library, sid = session
    url = vllm_voxtral.base_url
    if fault == "key":
        models = RecordingModels(vllm_voxtral, api_key="not-the-key-1234")
        said = f"The server at {url} refused the API key. Check it in Settings → Engine."
    elif fault == "model":
        models = RecordingModels(vllm_voxtral, model="no-such-model")
        said = (f"The server at {url} does not serve the model “no-such-model”. It serves: {vllm_voxtral.model}. "
                "Choose one in Settings → Engine.")
    elif fault == "down":
        url = f"http://127.0.0.1:{free_port()}"
        models = ServerChatModels(parse_address(url, "some-key"), "tiny-voxtral")
        said = (f"The server at {url} cannot be reached (connection refused). Check the address in Settings → Engine "
                "and that the server is running.")
    else:  # a server whose context is shorter than it says: the request is too long for it
        models = RecordingModels(vllm_voxtral, max_model_len=32768)
        sid = make_session(tmp_path, "Long", [], {"mic": np.zeros(340 * MODEL_RATE, np.float32)}).name  # 12 chunks
        library = Library(tmp_path)
        said = f"The server at {url} refused the request: This model's maximum context length is 4096 tokens."
    controller, seen = make_controller(library, models, max_new_tokens=8)
    controller.open(sid)
    ask(qtbot, controller, "What about the budget?")
    assert seen["turns"][-1] == ChatTurn("assistant", "", finish_reason="error")
    (notice,) = [n for n in seen["notices"] if n.severity is Severity.ERROR]
    assert notice.message.startswith(f"The question could not be answered. {said}")
    if fault == "limit":
        assert notice.message.endswith(" Start a new conversation to ask more.")
    else:
        assert notice.message == f"The question could not be answered. {said}"
    assert "not-the-key-1234" not in notice.message
    assert store.load(library.folder(sid), controller.conversation.id).turns[-1].finish_reason == "error"
