from app.events import CaptionEvent, CaptionGap
from app.transcript import (
    MAX_LINE_CHARS,
    ChangeKind,
    LineChange,
    LiveTranscript,
    format_timestamp,
    line_prefix,
    match_spans,
)


def ev(text: str, start: float, source: str = "mic", end: float | None = None, final: bool = False) -> CaptionEvent:
    return CaptionEvent(source, text, (), start, start + 0.08 if end is None else end, final)


def feed(t: LiveTranscript, tokens: list[str], start: float, source: str = "mic", label: str = "") -> float:
    """Tokens 80 ms apart; returns the time after the last one."""
    for tok in tokens:
        t.add(ev(tok, start, source), label)
        start += 0.08
    return start


def texts(t: LiveTranscript) -> list[str]:
    return [line.text for line in t.lines]


def test_tokens_of_one_source_build_one_line_with_times():
    t = LiveTranscript()
    assert t.add(ev("Hello", 1.0), "You") == [LineChange(ChangeKind.APPENDED, 0, "Hello")]
    assert t.add(ev(" there", 1.08), "You") == [LineChange(ChangeKind.UPDATED, 0, " there")]
    (line,) = t.lines
    assert (line.index, line.source_id, line.label, line.text) == (0, "mic", "You", "Hello there")
    assert line.start_s == 1.0
    assert abs(line.end_s - 1.16) < 1e-9


def test_events_without_text_change_nothing_and_do_not_bridge_a_pause():
    t = LiveTranscript()
    t.add(ev("One", 0.0))
    for i in range(30):  # control-token steps through a silence
        assert t.add(ev("", 0.08 * (i + 1))) == []
    t.add(ev(" two", 2.5))
    assert texts(t) == ["One", "two"]


def test_each_source_keeps_a_running_line():
    t = LiveTranscript()
    feed(t, ["Hi", " all"], 0.0, "mic", "You")
    changes = t.add(ev(" Hey", 0.2, "sys"), "Others")
    assert changes == [LineChange(ChangeKind.APPENDED, 1, "Hey")]  # leading space dropped
    assert t.add(ev(" again", 0.3, "mic"), "You") == [LineChange(ChangeKind.UPDATED, 0, " again")]
    assert texts(t) == ["Hi all again", "Hey"]
    assert [line.label for line in t.lines] == ["You", "Others"]


def test_two_people_talking_at_once_read_as_two_growing_lines():
    t = LiveTranscript()
    mine = ["I", "think", "we", "should", "ship", "on", "Monday"]
    theirs = ["Yes", "but", "the", "tests", "are", "not", "green"]
    at = 0.0
    for a, b in zip(mine, theirs, strict=True):  # word by word, alternating, as the worker delivers them
        t.add(ev(" " + a, at, "mic"), "You")
        t.add(ev(" " + b, at + 0.04, "sys"), "Others")
        at += 0.24
    assert texts(t) == [" ".join(mine), " ".join(theirs)]
    # Both break at sentence ends and pauses exactly as one source's line does.
    t.add(ev(".", at, "mic"), "You")
    t.add(ev(" Then", at + 0.6, "mic"), "You")
    t.add(ev(" again", at + 0.1, "sys"), "Others")
    t.add(ev(" Later", at + 3.0, "sys"), "Others")
    assert texts(t) == [" ".join(mine) + ".", " ".join(theirs) + " again", "Then", "Later"]


def test_a_line_with_another_speaker_below_it_ends_at_a_short_pause():
    t = LiveTranscript()
    feed(t, ["So", " about", " the", " budget"], 0.0, "sys", "Others")
    feed(t, ["Right"], 0.4, "mic", "You")
    t.add(ev(" we", 1.0, "sys"), "Others")  # 0.6 s later, after the other person spoke: reads below them
    assert texts(t) == ["So about the budget", "Right", "we"]


def test_the_old_grouping_for_stored_sessions():
    t = LiveTranscript(running_lines=False)
    feed(t, ["Hi", " all"], 0.0, "mic", "You")
    t.add(ev(" Hey", 0.2, "sys"), "Others")
    t.add(ev(" again", 0.3, "mic"), "You")
    assert texts(t) == ["Hi all", "Hey", "again"]


def test_a_session_header_separates_sessions_and_their_times():
    from datetime import datetime

    t = LiveTranscript()
    t.start_session(datetime(2026, 12, 4, 9, 5))
    feed(t, ["Good", " morning"], 0.0, "mic")
    t.start_session(datetime(2026, 12, 4, 14, 30))
    feed(t, ["Welcome", " back"], 0.0, "mic")  # the same source, times from 0 again: a line of the new session
    assert texts(t) == ["— Session of Friday 04 December 2026, 09:05 —", "Good morning",
                        "— Session of Friday 04 December 2026, 14:30 —", "Welcome back"]
    assert [line.header for line in t.lines] == [True, False, True, False]
    assert t.text_with_timestamps().splitlines() == [
        "— Session of Friday 04 December 2026, 09:05 —", "[00:00:00] Good morning",
        "— Session of Friday 04 December 2026, 14:30 —", "[00:00:00] Welcome back"]


def test_long_pause_starts_a_new_line_short_pause_does_not():
    t = LiveTranscript()
    feed(t, ["so", " we"], 0.0)
    t.add(ev(" wait", 1.0))  # 0.84 s gap, no sentence end
    t.add(ev(" then", 1.08 + 1.5))  # exactly the pause
    assert texts(t) == ["so we wait", "then"]
    assert t.lines[1].start_s == 2.58


def test_sentence_end_followed_by_a_pause_starts_a_new_line():
    t = LiveTranscript()
    end = feed(t, ["It", " works", "."], 0.0)
    t.add(ev(" Next", end + 0.5))
    assert texts(t) == ["It works.", "Next"]


def test_sentence_end_without_a_pause_stays_on_the_line():
    t = LiveTranscript()
    end = feed(t, ["Pi", " is", " 3", "."], 0.0)
    feed(t, ["14", " roughly", "!"], end)
    t.add(ev(" Really", end + 0.24 + 0.1))
    assert texts(t) == ["Pi is 3.14 roughly! Really"]


def test_long_line_breaks_at_a_word_border():
    t = LiveTranscript()
    words = ["word"] + [" word"] * 60
    feed(t, words, 0.0)
    assert len(t.lines) > 1
    for line in t.lines[:-1]:
        assert MAX_LINE_CHARS <= len(line.text) < MAX_LINE_CHARS + 5
        assert not line.text.startswith(" ")
    assert " ".join(texts(t)) == "".join(words)


def test_long_line_does_not_break_inside_a_word():
    t = LiveTranscript()
    feed(t, ["a"] + [" b"] * 100, 0.0)  # 201 chars
    t.add(ev("cd", 8.1))  # continues the word "b": no border
    assert t.lines[0].text.endswith(" bcd")
    assert len(t.lines) == 1


def test_one_long_event_is_split_at_word_borders():
    t = LiveTranscript()
    text = " ".join(f"w{i:03d}" for i in range(100))  # 499 chars
    changes = t.add(ev(text, 0.0, end=30.0))
    assert [c.kind for c in changes] == [ChangeKind.APPENDED] * len(t.lines)
    assert len(t.lines) == 3
    assert [c.text for c in changes] == texts(t)
    assert " ".join(texts(t)) == text


def test_text_without_spaces_still_breaks():
    t = LiveTranscript()
    feed(t, ["字"] * 700, 0.0)
    assert max(len(line) for line in texts(t)) <= 300
    assert "".join(texts(t)) == "字" * 700


def test_final_event_closes_the_line():
    t = LiveTranscript()
    t.add(ev("Bye", 0.0, final=True))
    t.add(ev(" hello", 0.1))
    assert texts(t) == ["Bye", "hello"]


def test_lines_keep_their_index_and_clear_forgets_them():
    t = LiveTranscript()
    for i in range(5):
        t.add(ev(f"line {i}", i * 2.0))
    assert [line.index for line in t.lines] == list(range(5))
    t.clear()
    assert t.lines == []
    assert t.add(ev("again", 0.0))[0] == LineChange(ChangeKind.APPENDED, 0, "again")


def test_format_timestamp():
    assert format_timestamp(0) == "00:00:00"
    assert format_timestamp(62.9) == "00:01:02"
    assert format_timestamp(3 * 3600 + 5 * 60 + 7) == "03:05:07"
    assert format_timestamp(-1.0) == "00:00:00"


def test_search_is_case_insensitive_and_returns_line_indices():
    t = LiveTranscript()
    t.add(ev("The Budget is fine", 0.0), "You")
    t.add(ev("no numbers here", 5.0), "You")
    t.add(ev("budget? BUDGET!", 10.0), "You")
    assert t.search("budget") == [0, 2]
    assert t.search("NUMBERS") == [1]
    assert t.search("missing") == []
    assert t.search("") == []
    assert t.search("a.c") == []  # the query is literal text, not a pattern
    assert match_spans("budget? BUDGET!", "budget") == [(0, 6), (8, 14)]


def test_text_with_timestamps():
    t = LiveTranscript()
    t.add(ev("Hello", 62.0, "mic"), "You")
    t.add(ev("Hi", 3725.0, "sys"), "Others")
    t.add(ev("no label", 3730.0, "file"))
    assert t.text_with_timestamps() == "[00:01:02] You: Hello\n[01:02:05] Others: Hi\n[01:02:10] no label"
    assert line_prefix(t.lines[0]) == "[00:01:02] You: "
    assert LiveTranscript().text_with_timestamps() == ""


def test_a_stretch_without_captions_is_a_line_of_its_own() -> None:
    from app.events import CaptionGap
    from app.transcript import LiveTranscript

    transcript = LiveTranscript()
    transcript.add(CaptionEvent("mic", " Hello", (1,), 0.0, 0.5))
    transcript.add_gap(CaptionGap("mic", 61.0, 89.5, "server unreachable"))
    transcript.add(CaptionEvent("mic", " again", (2,), 89.6, 90.0))
    assert [line.text for line in transcript.lines] == [
        "Hello", "(no captions 00:01:01–00:01:29: server unreachable)", "again"]


def test_a_sessions_gaps_are_counted_and_the_first_named() -> None:
    from app.transcript import GAPS_LISTED, gaps_note

    assert gaps_note([]) == ""
    gaps = [CaptionGap("mic", 60.0 * i, 60.0 * i + 5, "server unreachable") for i in range(GAPS_LISTED + 2)]
    note = gaps_note(gaps)
    assert note.startswith(f"No live captions for {GAPS_LISTED + 2} stretches: 00:00:00–00:00:05 (server unreachable)")
    assert note.count("(server unreachable)") == GAPS_LISTED and " and 2 more." in note
