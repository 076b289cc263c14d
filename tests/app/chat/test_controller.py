"""The chat controller on the tiny random Voxtral: streaming, stopping, follow-ups, saving, reloading, export."""

from __future__ import annotations

import numpy as np
import pytest

from app.chat import store
from app.chat.clips import ClipSource
from app.chat.controller import ChatController
from app.chat.model import ChatTurn, Clip
from app.chat.model_manager import ModelManager
from app.chat.prompting import build_messages
from app.events import MODEL_RATE, Severity
from app.export.output_check import OutputRefused
from app.library.index import Library
from tests.app.library.sessions import MEETING, make_session


class Recorded:
    """The tiny model, remembering the conversations it is asked (and, optionally, a smaller audio limit)."""

    def __init__(self, model, max_audio_seconds: float | None = None) -> None:
        self.model, self.asked = model, []
        self.max_audio_seconds = max_audio_seconds or model.max_audio_seconds

    def __getattr__(self, name: str):
        return getattr(self.__dict__["model"], name)

    def stream_chat(self, messages, **kwargs):
        self.asked.append(messages)
        return self.model.stream_chat(messages, **kwargs)


@pytest.fixture
def session(tmp_path):
    audio = np.random.default_rng(5).uniform(-0.3, 0.3, 7 * MODEL_RATE).astype(np.float32)
    folder = make_session(tmp_path, "Budget", MEETING, {"mic": audio})
    return Library(tmp_path), folder.name


def make_controller(qtbot, library, model, **kwargs):
    manager = ModelManager("v", loader=lambda source, device: model, free_gpu_bytes=lambda: None)
    controller = ChatController(library, manager, **kwargs)
    seen = {"turns": [], "deltas": [], "notices": [], "progress": [], "busy": []}
    controller.turnAdded.connect(seen["turns"].append)
    controller.delta.connect(seen["deltas"].append)
    controller.notice.connect(seen["notices"].append)
    controller.progress.connect(lambda f, w: seen["progress"].append((f, w)))
    controller.busyChanged.connect(seen["busy"].append)
    return controller, seen


def ask(qtbot, controller, question, clips=()) -> None:
    with qtbot.waitSignal(controller.busyChanged, timeout=60000, check_params_cb=lambda busy: not busy):
        controller.ask(question, clips)


def test_ask_streams_the_answer_and_saves_it(qtbot, tiny_voxtral, session) -> None:
    library, sid = session
    model = Recorded(tiny_voxtral.model)
    controller, seen = make_controller(qtbot, library, model, max_new_tokens=20)
    conversation = controller.open(sid)
    assert conversation.turns == () and controller.conversation is conversation
    ask(qtbot, controller, "  What about the budget? ")
    user, answer = seen["turns"]
    assert user == ChatTurn("user", "What about the budget?", (Clip(sid),))  # no clip: the whole recording
    expected = tiny_voxtral.model.chat(build_messages([user], ClipSource(library)), max_new_tokens=20)
    assert len(seen["deltas"]) > 1 and "".join(seen["deltas"]) == answer.text == expected.text
    assert answer.role == "assistant" and answer.finish_reason in {"eos", "length"}
    assert seen["busy"] == [True, False] and not controller.busy
    assert controller.conversation.turns == (user, answer)
    assert store.load(library.folder(sid), conversation.id) == controller.conversation
    assert (0.0, "Loading Voxtral Mini 3B on the CPU…") in seen["progress"]


def test_stop_mid_answer_keeps_and_saves_the_partial_answer(qtbot, tiny_voxtral, session) -> None:
    library, sid = session
    controller, seen = make_controller(qtbot, library, Recorded(tiny_voxtral.model), max_new_tokens=2000)
    controller.open(sid)
    steps = []
    hook = tiny_voxtral.model.net.decoder.register_forward_hook(lambda *_: steps.append(1))
    controller.delta.connect(lambda _: controller.stop())
    try:
        ask(qtbot, controller, "Tell me everything.")
    finally:
        hook.remove()
    answer = seen["turns"][-1]
    assert answer.finish_reason == "stopped" and answer.text and answer.text == "".join(seen["deltas"])
    assert len(steps) < 200  # stopped after a few tokens, not 2000
    saved = store.load(library.folder(sid), controller.conversation.id)
    assert saved.turns[-1] == answer


def test_follow_up_keeps_the_first_turns_audio(qtbot, tiny_voxtral, session) -> None:
    library, sid = session
    model = Recorded(tiny_voxtral.model)
    controller, seen = make_controller(qtbot, library, model, max_new_tokens=10)
    controller.open(sid)
    clip = Clip(sid, 1.0, 6.0)
    ask(qtbot, controller, "What is said?", [clip])
    ask(qtbot, controller, "And then?")
    first, follow_up = model.asked
    assert [m["role"] for m in follow_up] == ["user", "assistant", "user"]
    audio = follow_up[0]["content"][0]
    np.testing.assert_array_equal(audio["audio"], first[0]["content"][0]["audio"])
    np.testing.assert_array_equal(audio["audio"], ClipSource(library).audio(clip).samples)
    assert follow_up[1] == {"role": "assistant", "content": seen["turns"][1].text}
    assert follow_up[2] == {"role": "user", "content": "And then?"}
    assert [t.role for t in controller.conversation.turns] == ["user", "assistant", "user", "assistant"]
    assert controller.conversation.turns[2].clips == ()


def test_reload_the_saved_conversation_and_go_on(qtbot, tiny_voxtral, session) -> None:
    library, sid = session
    controller, _ = make_controller(qtbot, library, Recorded(tiny_voxtral.model), max_new_tokens=8)
    first = controller.open(sid)
    ask(qtbot, controller, "Budget?")
    saved = controller.conversation
    (library.folder(sid) / "chats" / "20250101-000000-ffffff.json").write_text("{not json")  # damaged: skipped
    model = Recorded(tiny_voxtral.model)
    again, _ = make_controller(qtbot, library, model, max_new_tokens=8)
    assert again.open(sid) == saved and saved.id == first.id
    ask(qtbot, again, "More?")
    assert model.asked[0][1] == {"role": "assistant", "content": saved.turns[1].text}
    assert again.conversation.turns[:2] == saved.turns
    fresh = again.new_conversation()
    assert fresh.id != saved.id and fresh.turns == () and fresh.session_id == sid
    assert [c.id for c in again.conversations()] == [saved.id]  # the new one is saved with its first answer


def test_markdown_export(qtbot, tiny_voxtral, session, tmp_path) -> None:
    library, sid = session
    controller, seen = make_controller(qtbot, library, Recorded(tiny_voxtral.model), max_new_tokens=8)
    controller.open(sid)
    ask(qtbot, controller, "When was the budget discussed?", [Clip(sid, 0.0, 3.0), Clip(sid, 5.0, 6.5)])
    path = controller.export_markdown(tmp_path / "chat.md")
    answer = seen["turns"][1].text
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Chat about “Budget”\n")
    assert "## Question — clips: 00:00–00:03, 00:05–00:06\n\nWhen was the budget discussed?\n" in text
    assert f"## Answer\n\n{answer}\n" in text
    stopped = controller.conversation.with_turn(ChatTurn("assistant", "Partly [00:05]", finish_reason="stopped"))
    assert "Partly [00:05]\n\n_(stopped before the end)_" in store.to_markdown(stopped)


def test_markdown_export_never_replaces_a_recording_or_audio(qtbot, tiny_voxtral, session, tmp_path) -> None:
    library, sid = session
    controller, _ = make_controller(qtbot, library, Recorded(tiny_voxtral.model), max_new_tokens=4)
    controller.open(sid)
    ask(qtbot, controller, "Budget?")
    recording = next((library.folder(sid) / "audio").iterdir())
    outside = tmp_path / "talk.md"
    outside.write_bytes(recording.read_bytes())  # sound, whatever its name says
    kept = {p: p.read_bytes() for p in (recording, library.folder(sid) / "session.json", outside)}
    for target in kept:
        with pytest.raises(OutputRefused) as refused:
            controller.export_markdown(target)
        assert str(target) in str(refused.value)
    assert {p: p.read_bytes() for p in kept} == kept
    with pytest.raises(OutputRefused, match="is a folder"):
        controller.export_markdown(tmp_path)


def test_long_recording_is_split_with_progress_and_a_note(qtbot, tiny_voxtral, tmp_path) -> None:
    audio = np.random.default_rng(6).uniform(-0.3, 0.3, 100 * MODEL_RATE).astype(np.float32)
    sid = make_session(tmp_path, "Long", [], {"mic": audio}).name
    model = Recorded(tiny_voxtral.model, max_audio_seconds=60.0)
    controller, seen = make_controller(qtbot, Library(tmp_path), model, max_new_tokens=6)
    controller.open(sid)
    ask(qtbot, controller, "Summary?")
    answer = seen["turns"][-1]
    assert len(model.asked) == 3  # two parts of 50 s, then the combination
    assert answer.note == ("The recording is 2 min long, more than the 1 min the model takes at once: it was split "
                           "into 2 parts of 50 s; each was asked and the answers combined.")
    assert [n.message for n in seen["notices"] if n.severity is Severity.INFO][-1] == answer.note
    assert [w for _, w in seen["progress"] if w.startswith(("Asking", "Combining"))] == [
        "Asking part 1 of 2 (00:00–00:50)…", "Asking part 2 of 2 (00:50–01:40)…", "Combining the answers…"]
    assert answer.text == "".join(seen["deltas"])
    assert store.load(Library(tmp_path).folder(sid), controller.conversation.id).turns[-1].note == answer.note


def test_a_failed_answer_is_explained_and_kept(qtbot, tiny_voxtral, session) -> None:
    library, sid = session
    controller, seen = make_controller(qtbot, library, Recorded(tiny_voxtral.model), max_new_tokens=8)
    controller.open(sid)
    ask(qtbot, controller, "What happened later?", [Clip(sid, 60.0, 70.0)])
    assert seen["turns"][-1] == ChatTurn("assistant", "", finish_reason="error")
    (notice,) = [n for n in seen["notices"] if n.severity is Severity.ERROR]
    assert "01:00–01:10 holds no audio of the recording" in notice.message
    with pytest.raises(ValueError, match="every clip must come from it"):
        controller.ask("Elsewhere?", [Clip("20250101-000000-abcdef")])
    with pytest.raises(ValueError, match="empty"):
        controller.ask("  ", [])
