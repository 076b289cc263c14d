"""Roll-up layout: wrapping, speaker labels, exact full text and a display tail that stays bounded."""

import random

import pytest

import app.captions.layout as layout
from app.captions.layout import RollUp, wrap


def feed(rollup: RollUp, deltas: list[str], source: str = "mic", label: str = "") -> None:
    for delta in deltas:
        rollup.add(source, delta, label)


def test_wrap_is_greedy_left_aligned_and_cuts_long_words() -> None:
    assert wrap("the quick  brown\tfox jumps", 10) == ["the quick", "brown fox", "jumps"]
    assert wrap("  ", 10) == []
    assert wrap("ab " + "x" * 23 + " cd", 10) == ["ab", "x" * 10, "x" * 10, "xxx cd"]


@pytest.mark.parametrize("lines", [1, 2, 3])
def test_shows_the_last_n_lines(lines: int) -> None:
    rollup = RollUp(max_line_chars=16, lines=lines)
    words = [f" word{i:02d}" for i in range(30)]
    feed(rollup, words)
    expected = wrap("".join(words), 16)[-lines:]
    assert rollup.lines() == expected
    assert len(rollup.lines()) == lines
    assert all(len(line) <= 16 and line == line.strip() for line in rollup.lines())


def test_fewer_lines_while_little_was_said() -> None:
    rollup = RollUp(40, 3)
    assert rollup.lines() == []
    rollup.add("mic", "Hello")
    assert rollup.lines() == ["Hello"]


def test_tokens_join_into_words_and_whitespace_is_normalised() -> None:
    rollup = RollUp(40, 2)
    feed(rollup, ["Hel", "lo", " wor", "ld", ",", "   how", "\tare", " ", "you?"])
    assert rollup.lines() == ["Hello world, how are you?"]


def test_whitespace_only_delta_separates_words() -> None:
    rollup = RollUp(40, 2)
    feed(rollup, ["one", " ", "two", "", "three"])
    assert rollup.lines() == ["one twothree"]


def test_newline_starts_a_new_line() -> None:
    rollup = RollUp(40, 3)
    feed(rollup, ["First sentence.", "\nSecond", " one.\r\n", "Third"])
    assert rollup.lines() == ["First sentence.", "Second one.", "Third"]


def test_speaker_change_starts_a_labelled_line() -> None:
    rollup = RollUp(40, 3)
    rollup.add("mic", "Hi there", "You")
    rollup.add("mic", " friend", "You")
    rollup.add("system", " Hello", "Others")
    rollup.add("system", " back", "Others")
    rollup.add("mic", " Bye", "You", paused=True)  # after a pause, below the other speaker
    assert rollup.lines() == ["You: Hi there friend", "Others: Hello back", "You: Bye"]


def test_two_speakers_at_once_grow_two_paragraphs() -> None:
    rollup = RollUp(40, 4)
    for mine, theirs in zip(["can", "you", "hear", "me"], ["yes", "loud", "and", "clear"], strict=True):
        rollup.add("mic", " " + mine, "You")
        rollup.add("system", " " + theirs, "Others")
    assert rollup.lines() == ["You: can you hear me", "Others: yes loud and clear"]
    rollup.add("mic", " now", "You", paused=True)  # a pause with someone below: a new line, not above them
    rollup.add("system", " indeed", "Others")
    assert rollup.lines() == ["You: can you hear me", "Others: yes loud and clear indeed", "You: now"]


def test_no_label_without_a_label_and_whitespace_from_another_source_changes_nothing() -> None:
    rollup = RollUp(40, 3)
    rollup.add("a", "one")
    rollup.add("b", " ")
    rollup.add("a", "two")
    rollup.add("b", "three")
    assert rollup.lines() == ["onetwo", "three"]


def test_full_text_is_the_exact_concatenation_per_source_and_overall() -> None:
    rollup = RollUp(16, 1)
    rollup.add("a", " Hello  ", "You")
    rollup.add("b", "there\n", "Others")
    rollup.add("a", "x" * 50)
    assert rollup.full_text("a") == " Hello  " + "x" * 50
    assert rollup.full_text("b") == "there\n"
    assert rollup.full_text() == " Hello  there\n" + "x" * 50
    assert rollup.full_text("nobody") == ""


def test_clear_forgets_everything() -> None:
    rollup = RollUp(20, 2)
    rollup.add("a", "some words", "You")
    rollup.clear()
    assert rollup.lines() == [] and rollup.full_text() == "" and rollup.full_text("a") == ""
    rollup.add("a", "again", "You")
    assert rollup.lines() == ["You: again"]


def test_set_geometry_rewraps_what_is_kept() -> None:
    rollup = RollUp(40, 2)
    feed(rollup, [" alpha", " beta", " gamma", " delta", " epsilon"])
    assert rollup.lines() == ["alpha beta gamma delta epsilon"]
    rollup.set_geometry(12, 3)
    assert rollup.lines() == ["alpha beta", "gamma delta", "epsilon"]
    with pytest.raises(ValueError):
        rollup.set_geometry(0, 2)


def test_incremental_lines_match_wrapping_the_whole_text() -> None:
    """Dropping finished lines from the display tail never changes what is shown."""
    rng = random.Random(7)
    words = ["a", "to", "caption", "x" * 37, "readable", "supercalifragilistic", "ok"]
    text = " ".join(rng.choice(words) for _ in range(600))
    rollup = RollUp(max_line_chars=18, lines=3)
    pos = 0
    while pos < len(text):
        step = rng.randint(1, 7)
        rollup.add("mic", text[pos : pos + step])
        pos += step
        assert rollup.lines() == wrap(text[:pos], 18)[-3:]
    assert rollup.full_text() == text


def test_wrapping_cost_does_not_grow_with_session_length(monkeypatch: pytest.MonkeyPatch) -> None:
    rollup = RollUp(max_line_chars=42, lines=3)
    for i in range(30000):
        rollup.add("mic" if i % 500 < 400 else "system", f" word{i % 97}", "You" if i % 500 < 400 else "Others")
    wrapped_chars = []

    def counting_wrap(text: str, width: int, fits=None) -> list[str]:
        wrapped_chars.append(len(text))
        return wrap(text, width, fits)

    monkeypatch.setattr(layout, "wrap", counting_wrap)
    rollup.add("mic", " more")
    rollup.lines()
    assert sum(wrapped_chars) < 42 * 20
    assert len(rollup.full_text()) > 200_000  # the full text itself is all kept


def test_lines_also_wrap_where_the_display_runs_out_of_room() -> None:
    # Wide glyphs: a line "fits" only up to 10 units, where W counts 3 and everything else 1.
    def fits(line: str) -> bool:
        return sum(3 if c == "W" else 1 for c in line) <= 10

    assert wrap("WWW ab WWWWW", 40, fits) == ["WWW", "ab", "WWW", "WW"]
    assert wrap("ab cd WW", 40, fits) == ["ab cd", "WW"]
    rollup = RollUp(40, 3)
    rollup.set_geometry(40, 3, fits)
    rollup.add("mic", "WWW ab WWWWW")
    assert rollup.lines() == ["ab", "WWW", "WW"]
