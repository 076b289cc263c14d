"""Audio longer than the model takes at once: split at line boundaries, each part asked, the answers combined."""

from __future__ import annotations

import re

import numpy as np
import pytest

from app.chat.clips import ClipSource
from app.chat.long_audio import answer_in_parts, plan_parts
from app.chat.model import ChatTurn, Clip
from app.engine.server.cancel import Cancel
from app.library.index import Library
from tests.app.library.sessions import event, make_session

RATE = 16000
MAX_S = 150.0  # five 30 s chunks: the model's limit for these tests (the tiny model's own is 42 min)


class Asked:
    """The tiny model, recording every conversation it is asked; ``on_delta`` runs after each delta it yields."""

    def __init__(self, model, on_delta=None) -> None:
        self.model, self.on_delta, self.asked = model, on_delta, []
        self.tokenizer = model.tokenizer

    def stream_chat(self, messages, **kwargs):
        self.asked.append(messages)
        return Observed(self.model.stream_chat(messages, **kwargs), self.on_delta)


class Observed:
    """The model's own stream; ``on_delta`` runs after each delta it yields (when the next one is asked for)."""

    def __init__(self, stream, on_delta) -> None:
        self.stream, self.on_delta, self.yielded = stream, on_delta, False

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.yielded and self.on_delta is not None:
            self.on_delta()
        delta = next(self.stream)
        self.yielded = True
        return delta

    def close(self) -> None:
        self.stream.close()

    @property
    def finish_reason(self) -> str | None:
        return self.stream.finish_reason


def meeting(tmp_path, extra=()):
    """230 s of audio; a line of 8 s every 10 s ("Point 0." at 0 s ... "Point 22." at 220 s)."""
    events = [event("mic", f"Point {n}.", 10.0 * n, 10.0 * n + 8.0) for n in range(23)]
    audio = {"mic": np.random.default_rng(1).uniform(-0.1, 0.1, 230 * RATE).astype(np.float32),
             "sys": np.zeros(230 * RATE, dtype=np.float32)}
    folder = make_session(tmp_path, "Long", [*events, *extra], audio, labels={"mic": "Ann", "sys": "Bob"})
    return ClipSource(Library(tmp_path)), folder.name


def spans(parts) -> list[list[tuple[float, float]]]:
    return [[(p.start_s, p.end_s) for p in part] for part in parts]


def test_split_at_the_line_boundary_nearest_the_middle(tmp_path) -> None:
    source, sid = meeting(tmp_path)
    whole = source.range(Clip(sid))
    # Two parts of 115 s would be even; lines start every 10 s, and 110 s is the nearest start that leaves a
    # second part that fits (120 s would too; the tie goes to the first).
    assert spans(plan_parts([whole], MAX_S)) == [[(0.0, 110.0)], [(110.0, 230.0)]]


def test_a_line_running_across_a_boundary_is_not_cut(tmp_path) -> None:
    source, sid = meeting(tmp_path, [event("sys", "Across.", 105.0, 112.0)])
    assert spans(plan_parts([source.range(Clip(sid))], MAX_S)) == [[(0.0, 120.0)], [(120.0, 230.0)]]


def test_without_a_transcript_the_cut_is_where_it_fits(tmp_path) -> None:
    folder = make_session(tmp_path, "Silent", [], {"mic": np.zeros(230 * RATE, dtype=np.float32)})
    source = ClipSource(Library(tmp_path))
    assert spans(plan_parts([source.range(Clip(folder.name))], MAX_S)) == [[(0.0, 115.0)], [(115.0, 230.0)]]


def test_short_clips_share_a_part(tmp_path) -> None:
    source, sid = meeting(tmp_path)
    clips = [source.range(Clip(sid, a, b)) for a, b in [(0.0, 25.0), (30.0, 55.0), (60.0, 170.0)]]
    # 30 s + 30 s fit together (with their transcripts); the third (110 s: 120 s padded) makes a part of its own.
    assert spans(plan_parts(clips, MAX_S)) == [[(0.0, 25.0), (30.0, 55.0)], [(60.0, 170.0)]]


def test_each_part_is_asked_and_the_answers_combined(tiny_voxtral, tmp_path) -> None:
    source, sid = meeting(tmp_path)
    model = Asked(tiny_voxtral.model)
    progress, deltas = [], []
    result = answer_in_parts(model, [ChatTurn("user", "What points were made?", (Clip(sid),))], source,
                             max_audio_s=MAX_S, max_new_tokens=12, on_delta=deltas.append,
                             progress=lambda f, w: progress.append((f, w)))
    assert len(model.asked) == 3
    for n, (start, end) in enumerate([(0, 110), (110, 230)]):
        (user,) = model.asked[n]
        audio, transcript, note, question = user["content"]
        expected = source.audio(Clip(sid, float(start), float(end))).samples
        np.testing.assert_array_equal(audio["audio"], expected)  # exactly this part's samples
        assert transcript["text"].startswith(f"The audio is the recording from {start // 60:02d}:{start % 60:02d}")
        assert f"[{start // 60:02d}:{start % 60:02d}] Ann: Point {start // 10}." in transcript["text"]
        assert f"Point {end // 10}." not in transcript["text"]
        assert note["text"].startswith(f"This is part {n + 1} of 2 of a longer recording")
        assert question["text"].endswith("Question: What points were made?")
    (combine,) = model.asked[2]
    assert isinstance(combine["content"], str)  # text only
    for n, part in enumerate(result.parts, start=1):
        assert f"Answer from part {n} ({part.describe()}):\n{part.text.strip() or '(no answer)'}" in combine["content"]
    assert [p.describe() for p in result.parts] == ["00:00–01:50", "01:50–03:50"]
    assert "".join(deltas) == result.text  # only the combined answer streams
    assert result.finish_reason in {"eos", "length"}
    assert progress == [(0.0, "Asking part 1 of 2 (00:00–01:50)…"), (1 / 3, "Asking part 2 of 2 (01:50–03:50)…"),
                        (2 / 3, "Combining the answers…"), (1.0, "Done")]
    assert result.message == ("The recording is 4 min long, more than the 2 min the model takes at once: it was "
                              "split into 2 parts of 2 min; each was asked and the answers combined.")


def test_follow_up_asks_each_part_with_the_conversation_so_far(tiny_voxtral, tmp_path) -> None:
    source, sid = meeting(tmp_path)
    model = Asked(tiny_voxtral.model)
    turns = [ChatTurn("user", "First?", (Clip(sid, 0.0, 200.0),)), ChatTurn("assistant", "Earlier [00:10]."),
             ChatTurn("user", "And then?")]
    result = answer_in_parts(model, turns, source, max_audio_s=MAX_S, max_new_tokens=5)
    assert result.message.startswith("The attached audio is 3 min long")
    for asked in model.asked[:2]:
        assert [m["role"] for m in asked] == ["user", "assistant", "user"]
        assert asked[:2] == [{"role": "user", "content": "First?"},
                             {"role": "assistant", "content": "Earlier [00:10]."}]
        assert re.search(r"Question: And then\?$", asked[2]["content"][-1]["text"])
    assert model.asked[2][:2] == model.asked[0][:2] and isinstance(model.asked[2][2]["content"], str)


def test_stop_while_asking_a_part(tiny_voxtral, tmp_path) -> None:
    source, sid = meeting(tmp_path)
    cancel = Cancel()
    model = Asked(tiny_voxtral.model, on_delta=cancel.set)
    result = answer_in_parts(model, [ChatTurn("user", "Points?", (Clip(sid),))], source, max_audio_s=MAX_S,
                             max_new_tokens=50, cancel=cancel)
    assert len(model.asked) == 1 and result.finish_reason == "stopped"
    (part,) = result.parts
    assert part.finish_reason == "stopped" and part.text
    assert result.text == f"Part 1 (00:00–01:50):\n{part.text}"
    assert result.message.endswith("Stopped while asking part 1 of 2.")


def test_the_model_limit_is_the_default(tiny_voxtral, tmp_path) -> None:
    source, sid = meeting(tmp_path)
    assert tiny_voxtral.model.max_audio_seconds == pytest.approx(2520.0)
    # Everything fits the real limit: one part, as asked.
    assert len(plan_parts([source.range(Clip(sid))], tiny_voxtral.model.max_audio_seconds)) == 1
