"""Reading limits of subtitle cues, and how events become timed words."""

from __future__ import annotations

import random

import pytest

from app.events import CaptionEvent
from app.export.segments import (
    MAX_CPS,
    MAX_DURATION_S,
    MAX_LINE_CHARS,
    MIN_DURATION_S,
    MIN_VISIBLE_S,
    Segment,
    break_lines,
    paragraphs,
    segment,
)
from app.export.words import TimedWord, timed_tokens, timed_words
from tests.app.export.events import random_events, speak

EPS = 1e-6


def _words(*items: tuple[str, float, float], source: str = "a") -> list[TimedWord]:
    return [TimedWord(source, text, start, end) for text, start, end in items]


def check_limits(cues: list[Segment], words: list[TimedWord], *, labels: dict[str, str] | None = None) -> None:
    """The limits of the segments module docstring; with ``labels``, first lines leave room for ``Label: ``."""
    for i, cue in enumerate(cues):
        assert 1 <= len(cue.lines) <= 2
        first_width = MAX_LINE_CHARS - (len(labels[cue.source_id]) + 2 if labels else 0)
        assert len(cue.lines[0]) <= first_width and all(len(line) <= MAX_LINE_CHARS for line in cue.lines), cue
        assert all(line and line == line.strip() for line in cue.lines)
        assert {w.source_id for w in cue.words} == {cue.source_id}
        duration = cue.end_s - cue.start_s
        assert duration <= MAX_DURATION_S + EPS
        assert duration >= MIN_VISIBLE_S - 0.002  # rounding to milliseconds
        last = i + 1 == len(cues)
        blocked = not last and abs(cue.end_s - cues[i + 1].start_s) < EPS  # ends where the next cue starts
        if not last:
            assert cue.end_s <= cues[i + 1].start_s + EPS, "cues overlap"
        if duration < MIN_DURATION_S - EPS:
            assert blocked, cue
        if len(cue.text) / duration > MAX_CPS + 1e-3:
            assert blocked or abs(duration - MAX_DURATION_S) < EPS, cue
        # never shown before it is spoken, and late only to give a simultaneous cue its moment
        assert cue.start_s >= cue.words[0].start_s - 0.001
        assert cue.start_s <= cue.words[0].start_s + MIN_VISIBLE_S * len(cues)
        assert cue.words[-1].end_s - cue.words[0].start_s <= MAX_DURATION_S + EPS or len(cue.words) == 1
    # every word is shown once, in order (words longer than a line are cut into pieces)
    for source in {w.source_id for w in words}:
        shown = "".join(w.text for c in cues for w in c.words if w.source_id == source)
        assert shown == "".join(w.text for w in words if w.source_id == source)


@pytest.mark.parametrize("seed", range(40))
def test_random_streams_respect_the_limits(seed: int) -> None:
    rng = random.Random(seed)
    events = random_events(rng, sources=1 + seed % 2)
    words = timed_words(events)
    check_limits(segment(words), words)
    labels = {"s0": "You", "s1": "Others"}
    check_limits(segment(words, labels=labels, label_prefix=True), words, labels=labels)


def test_lines_are_balanced_at_word_borders() -> None:
    text = "the quick brown fox jumps over the lazy dog and keeps on running far away"
    top, bottom = break_lines(text.split())
    assert f"{top} {bottom}" == text
    assert abs(len(top) - len(bottom)) <= 6
    assert break_lines(["short", "line"]) == ["short line"]
    assert break_lines(["x" * 30] * 3) is None


def test_a_break_after_punctuation_beats_a_slightly_better_balance() -> None:
    words = ["Please", "send", "the", "notes", "to", "everyone,", "in", "the", "team", "and", "by", "Friday", "at",
             "the", "latest"]
    # "... everyone, in" / "the team ..." would be the most even (37 / 36 characters)
    assert break_lines(words) == ["Please send the notes to everyone,", "in the team and by Friday at the latest"]


def test_a_short_cue_is_extended_to_one_second_into_silence() -> None:
    cues = segment(_words(("Yes.", 1.0, 1.24), ("Right.", 5.0, 5.4)))
    assert [c.text for c in cues] == ["Yes.", "Right."]
    assert (cues[0].start_s, cues[0].end_s) == (1.0, 2.0)


def test_a_short_cue_ends_where_the_next_one_starts() -> None:
    words = _words(("Yes.", 0.0, 0.24), source="a") + _words(("No.", 0.3, 0.5), source="b")
    cues = segment(words)
    # "No." waits MAX_LATE_S so that "Yes." can be read a little, not the full second
    assert [(c.text, c.start_s, c.end_s) for c in cues] == [("Yes.", 0.0, 0.8), ("No.", 0.8, 1.8)]


def test_overlapping_talk_keeps_turns_together() -> None:
    question = speak("sys", 0, [" Any", " questions", "?"])
    answer = speak("mic", 1, [" Yes", ",", " one", " about", " the", " timeline", "."])
    cues = segment(timed_words(question + answer))
    assert [(c.source_id, c.text) for c in cues] == [("sys", "Any questions?"), ("mic", "Yes, one about the timeline.")]
    assert cues[0].end_s == cues[1].start_s == pytest.approx(0.16 + 0.5)


def test_display_time_is_extended_for_reading_speed() -> None:
    # 38 characters spoken in 1 s: shown until 38 / 20 = 1.9 s after the start, as the silence allows
    texts = ["Extraordinary", "measurements", "were", "taken"]
    words = _words(*[(w, 0.2 * i, 0.2 * i + 0.16) for i, w in enumerate(texts)])
    (cue,) = segment(words)
    assert cue.end_s == pytest.approx(len(cue.text) / MAX_CPS)


def test_a_source_change_starts_a_new_cue() -> None:
    events = speak("mic", 0, [" Hello", " there"]) + speak("sys", 10, [" Hi"]) + speak("mic", 30, [" again"])
    cues = segment(timed_words(events))
    assert [(c.source_id, c.text) for c in cues] == [("mic", "Hello there"), ("sys", "Hi"), ("mic", "again")]


def test_sentence_ends_and_pauses_start_new_cues() -> None:
    sentence = speak("a", 0, [" We", " start", " now", "."], steps_per_token=4)
    after_pause = speak("a", 30, [" Then", " we", " wait"], steps_per_token=4)
    cues = segment(timed_words(sentence + speak("a", 16, [" Next", " item"], steps_per_token=3) + after_pause))
    assert [c.text for c in cues] == ["We start now.", "Next item", "Then we wait"]


def test_a_quick_sentence_end_does_not_make_a_flash() -> None:
    cues = segment(timed_words(speak("a", 0, [" Yes", ".", " I", " agree", "."])))
    assert [c.text for c in cues] == ["Yes. I agree."]


def test_long_speech_is_split_into_cues_of_at_most_seven_seconds() -> None:
    tokens = [" la"] * 60  # slow, unbroken speech: 60 words over 14.4 s
    cues = segment(timed_words(speak("a", 0, tokens, steps_per_token=3)))
    assert len(cues) >= 3
    assert all(c.end_s - c.start_s <= MAX_DURATION_S for c in cues)
    assert sum(len(c.words) for c in cues) == 60


def test_a_full_cue_ends_after_its_last_sentence_end() -> None:
    text = "This is the first sentence of the talk. And this second one goes on for quite a while longer"
    cues = segment(timed_words(speak("a", 0, [" " + w for w in text.split()])))
    assert cues[0].text == "This is the first sentence of the talk."


def test_overly_long_words_are_cut_to_the_line_width() -> None:
    word = "x" * 100
    (w,) = timed_words([CaptionEvent("a", word, (1,), 0.0, 1.0)])
    cues = segment([w])
    assert [len(line) for c in cues for line in c.lines] == [42, 42, 16]
    assert "".join(line for c in cues for line in c.lines) == word


def test_words_take_their_times_from_their_tokens() -> None:
    events = [
        CaptionEvent("a", " Hel", (1,), 0.0, 0.08),
        CaptionEvent("a", "", (32,), 0.08, 0.16),
        CaptionEvent("a", "lo wor", (2,), 0.16, 0.24),
        CaptionEvent("b", " Hi", (3,), 0.1, 0.2),
        CaptionEvent("a", "ld", (4,), 0.24, 0.32, final=True),
        CaptionEvent("a", "again", (5,), 0.4, 0.48),
    ]
    words = timed_words(events)
    assert [(w.source_id, w.text, w.start_s, w.end_s) for w in words] == [
        ("a", "Hello", 0.0, 0.24), ("b", "Hi", 0.1, 0.2), ("a", "world", 0.16, 0.32), ("a", "again", 0.4, 0.48)
    ]
    assert [t.id for t in words[0].tokens] == [1, 2]  # the token of "lo wor" starts in "Hello"
    assert [t.id for t in words[2].tokens] == [4]


def test_batched_and_id_less_events_share_out_their_span() -> None:
    batched = CaptionEvent("a", " one two", (1, 2), 0.0, 0.16)
    assert [(t.id, t.text, t.start_s, t.end_s) for t in timed_tokens([batched])] == [
        (1, " one", 0.0, 0.08), (2, " two", 0.08, 0.16)
    ]
    sentence = CaptionEvent("a", "ab cd", (), 1.0, 1.5)
    assert [(w.text, w.start_s, w.end_s) for w in timed_words([sentence])] == [("ab", 1.0, 1.2), ("cd", 1.3, 1.5)]
    assert all(w.tokens == () for w in timed_words([sentence]))


def test_paragraphs_follow_speaker_turns_and_long_pauses() -> None:
    events = (speak("mic", 0, [" Good", " morning", "."]) + speak("sys", 8, [" Hello", "."])
              + speak("sys", 12, [" Shall", " we", " start", "?"]) + speak("sys", 60, [" Later", "."]))
    result = paragraphs(timed_words(events), labels={"mic": "You"})
    assert [(p.label, p.text) for p in result] == [
        ("You", "Good morning."), ("sys", "Hello. Shall we start?"), ("sys", "Later.")
    ]
