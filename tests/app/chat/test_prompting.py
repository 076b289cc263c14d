"""The prompt for a question over clips is exactly mistral-common's encoding of the same conversation, built here
independently: the audio cut from the WAV files at the right samples, the request made of its own classes."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from app.chat.clips import ClipSource
from app.chat.model import ChatTurn, Clip
from app.chat.prompting import CITE_INSTRUCTION, audio_cost_s, build_messages
from app.library.index import Library
from model import PromptTooLongError
from tests.app.library.sessions import MEETING, make_session

RATE = 16000
LINE0 = "[00:00] You: Hello everyone. Let's talk about the budget."
LINE1 = '[00:01] Others: Sure, the "Q3" numbers look fine'
LINE2 = "[00:05] You: Next item: C++ build times (slow)."


@pytest.fixture
def meeting(tmp_path):
    rng = np.random.default_rng(3)
    audio = {"mic": rng.uniform(-0.45, 0.45, 7 * RATE).astype(np.float32),
             "sys": rng.uniform(-0.45, 0.45, 3 * RATE).astype(np.float32)}
    folder = make_session(tmp_path, "Budget", MEETING, audio, labels={"mic": "You", "sys": "Others"})
    return ClipSource(Library(tmp_path)), folder


def recorded(folder, start_s: float, end_s: float) -> np.ndarray:
    """Both sources' samples [round(start * 16000), round(end * 16000)) read from the WAV files, summed."""
    start, stop = round(start_s * RATE), round(end_s * RATE)
    out = np.zeros(stop - start, dtype=np.float32)
    for path in sorted((folder / "audio").glob("*.wav")):
        samples = soundfile.read(str(path), dtype="float32")[0][start:stop]
        out[: samples.size] += samples
    assert np.max(np.abs(out)) <= 1.0  # no scaling expected for this mix
    return out


def reference(tekken, messages) -> tuple[list[int], list[np.ndarray]]:
    from mistral_common.protocol.instruct.chunk import AudioChunk, TextChunk
    from mistral_common.protocol.instruct.messages import AssistantMessage, UserMessage
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    def chunk(part):
        if isinstance(part, str):
            return TextChunk(text=part)
        buffer = io.BytesIO()
        soundfile.write(buffer, part, RATE, format="WAV", subtype="FLOAT")
        return AudioChunk(input_audio=buffer.getvalue())

    request = ChatCompletionRequest(messages=[
        AssistantMessage(content=content) if role == "assistant"
        else UserMessage(content=content if isinstance(content, str) else [chunk(p) for p in content])
        for role, content in messages
    ])
    tokenized = MistralTokenizer.from_file(str(tekken)).encode_chat_completion(request)
    return list(tokenized.tokens), [np.asarray(a.audio_array, dtype=np.float32) for a in tokenized.audios]


def assert_same_prompt(model, ours, tekken, expected) -> None:
    prompt = model.prompts.chat(ours)
    tokens, audios = reference(tekken, expected)
    assert prompt.tokens == tokens
    assert len(prompt.audios) == len(audios)
    for mine, theirs in zip(prompt.audios, audios, strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_question_over_a_clip(tiny_voxtral, meeting) -> None:
    source, folder = meeting
    clip = Clip(folder.name, 1.25003, 3.5)
    messages = build_messages([ChatTurn("user", "What about the budget?", (clip,))], source)
    audio = recorded(folder, 1.25003, 3.5)
    np.testing.assert_array_equal(messages[0]["content"][0]["audio"], audio)
    expected = [("user", [
        audio,
        f"The audio is the recording from 00:01 to 00:03.\nTranscript:\n{LINE0}\n{LINE1}",
        f"{CITE_INSTRUCTION}\n\nQuestion: What about the budget?",
    ])]
    assert_same_prompt(tiny_voxtral.model, messages, tiny_voxtral.folder / "tekken.json", expected)
    # mistral-common pads the clip to 30 s: the cut samples come first, silence after.
    padded = tiny_voxtral.model.prompts.chat(messages).audios[0]
    assert padded.size == 30 * RATE
    np.testing.assert_array_equal(padded[: audio.size], audio)
    assert not padded[audio.size :].any()


def test_follow_ups_keep_the_audio_and_the_answers(tiny_voxtral, meeting) -> None:
    source, folder = meeting
    clip = Clip(folder.name, 4.0, 6.5)
    turns = [
        ChatTurn("user", "What is next?", (clip,)),
        ChatTurn("assistant", "Build times [00:05].", finish_reason="eos"),
        ChatTurn("user", "Why?"),
        ChatTurn("assistant", "", finish_reason="stopped"),  # stopped before a word: not sent
        ChatTurn("user", "Why are they slow?"),
    ]
    messages = build_messages(turns, source)
    expected = [
        ("user", [recorded(folder, 4.0, 6.5),
                  f"The audio is the recording from 00:04 to 00:06.\nTranscript:\n{LINE2}",
                  f"{CITE_INSTRUCTION}\n\nQuestion: What is next?"]),
        ("assistant", "Build times [00:05]."),
        ("user", "Why?"),
        ("user", "Why are they slow?"),
    ]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "user"]
    assert_same_prompt(tiny_voxtral.model, messages, tiny_voxtral.folder / "tekken.json", expected)


def test_several_clips_and_a_clip_added_later(tiny_voxtral, meeting) -> None:
    source, folder = meeting
    first, second, later = Clip(folder.name, 0.0, 1.0), Clip(folder.name, 5.0, 6.0), Clip(folder.name, 1.5, 2.5)
    turns = [
        ChatTurn("user", "Compare them.", (first, second)),
        ChatTurn("assistant", "They differ.", finish_reason="eos"),
        ChatTurn("user", "And this one?", (later,)),
    ]
    messages = build_messages(turns, source)
    expected = [
        ("user", [recorded(folder, 0.0, 1.0), f"Audio 1 is the recording from 00:00 to 00:01.\nTranscript:\n{LINE0}",
                  recorded(folder, 5.0, 6.0), f"Audio 2 is the recording from 00:05 to 00:06.\nTranscript:\n{LINE2}",
                  f"{CITE_INSTRUCTION}\n\nQuestion: Compare them."]),
        ("assistant", "They differ."),
        ("user", [recorded(folder, 1.5, 2.5), f"The audio is the recording from 00:01 to 00:02.\nTranscript:\n{LINE1}",
                  "Question: And this one?"]),  # the instruction is said once
    ]
    assert_same_prompt(tiny_voxtral.model, messages, tiny_voxtral.folder / "tekken.json", expected)


def test_audio_that_cannot_fit_is_refused_before_reading_it(meeting, monkeypatch) -> None:
    source, folder = meeting
    clip = Clip(folder.name)
    span = source.range(clip)
    # 7 s pad to one 30 s chunk; the transcript adds its share.
    assert audio_cost_s([span]) == pytest.approx(30.0 + len(span.excerpt) / 3.0 / 12.5)
    monkeypatch.setattr(ClipSource, "audio", lambda *_: pytest.fail("audio read for a prompt that cannot fit"))
    refused = r"attached audio is 7 s long; .* needs about 34 s .* holds 20 s of audio"
    with pytest.raises(PromptTooLongError, match=refused):
        build_messages([ChatTurn("user", "Summary?", (clip,))], source, max_audio_s=20.0)
    with pytest.raises(ValueError, match="ends with the user's question"):
        build_messages([ChatTurn("assistant", "Hi")], source)


def test_ready_made_questions_and_the_stated_limits() -> None:
    from app.chat.actions import ACTIONS, LANGUAGE_NAMES, action_question, limits_text

    assert [a for a, _ in ACTIONS] == ["summarise", "decisions", "translate"]
    assert "decisions" in action_question("decisions") and "action items" in action_question("decisions")
    assert "Write the whole answer in French" in action_question("translate", "fr")
    with pytest.raises(ValueError, match="not 'ja'"):
        action_question("translate", "ja")
    with pytest.raises(ValueError, match="Unknown action"):
        action_question("poem")
    assert sorted(LANGUAGE_NAMES) == sorted(["en", "es", "fr", "pt", "hi", "de", "nl", "it"])
    text = limits_text(2520.0)
    assert "8 languages: English, Spanish, French, Portuguese, Hindi, German, Dutch and Italian" in text
    assert "about 42 minutes of audio at once" in text and "split into parts" in text
    assert "about 40 minutes" in limits_text(None)
    assert "Answers run on this computer" in text
    served = limits_text(240.0, "http://gpu-box:8000")
    assert "about 4 minutes of audio at once (the server's context" in served
    assert "Answers come from the server at http://gpu-box:8000" in served and "this computer" not in served
