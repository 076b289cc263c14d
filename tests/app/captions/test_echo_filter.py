"""The echo filter on caption event sequences shaped like the live worker's: one event per 80 ms step per source,
words spelled out a few characters at a time (a word's first piece carries its space), empty events between words."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from app.captions.echo_filter import HOLD_S, LOOKBACK_S, SETTLE_S, EchoFilter
from app.events import AudioSource, CaptionEvent, SourceKind

STEP = 0.08
MEETING = "we should ship the quarterly numbers before the board meeting on friday"
LOCAL = "i think that is too early and we need more time"


@dataclass(frozen=True)
class Arrival:
    at: float  # when the event reaches the filter
    event: CaptionEvent


def pieces(text: str) -> list[str]:
    return [word[i : i + 3] for word in re.findall(r"\s*\S+", text) for i in range(0, len(word), 3)]


def stream(source: str, script: list[tuple[float, str]], until: float) -> list[Arrival]:
    """An event every step from 0 to ``until``: the pieces of each scripted text from its time on, else nothing."""
    due: dict[int, str] = {}
    for at, text in script:
        step = round(at / STEP)
        for piece in pieces(" " + text):
            while step in due:
                step += 1
            due[step] = piece
    out = []
    for step in range(round(until / STEP)):
        text = due.get(step, "")
        at = step * STEP
        out.append(Arrival(at, CaptionEvent(source, text, (1000 + step,), at, at + STEP)))
    return out


def run(echo: EchoFilter, arrivals: list[Arrival], *, final: bool = True) -> list[tuple[float, CaptionEvent]]:
    """Feeds the arrivals in time order and fires ``due`` when the filter's timer would; what was passed on, when.

    Checks on the way that no event was held longer than ``HOLD_S``.
    """
    out: list[tuple[float, CaptionEvent]] = []
    arrived = {t: a.at for a in arrivals for t in a.event.token_ids}
    for arrival in sorted(arrivals, key=lambda a: a.at):
        while (at := echo.next_due()) is not None and at <= arrival.at:
            out += [(at, e) for e in echo.due(at)]
        out += [(arrival.at, e) for e in echo.add(arrival.event, arrival.at)]
    while (at := echo.next_due()) is not None:
        out += [(at, e) for e in echo.due(at)]
    for at, event in out:
        assert all(at - arrived[t] <= HOLD_S + 1e-9 for t in event.token_ids)
    if final:
        out += [(-1.0, e) for e in echo.flush()]
    return out


def text_of(out: list[tuple[float, CaptionEvent]], source: str = "mic") -> str:
    return "".join(e.text for _, e in out if e.source_id == source)


def make() -> EchoFilter:
    return EchoFilter(["mic"], ["sys"])


def test_an_echo_of_the_meeting_is_dropped_and_the_meeting_itself_passes() -> None:
    arrivals = stream("sys", [(1.0, MEETING)], 10) + stream("mic", [(1.3, MEETING)], 10)
    out = run(make(), arrivals)
    assert text_of(out) == ""
    assert text_of(out, "sys") == " " + MEETING


@pytest.mark.parametrize("delay", [0.05, 0.5, 1.0, 1.5, 2.0])
def test_delays_up_to_two_seconds(delay: float) -> None:
    arrivals = stream("sys", [(1.0, MEETING)], 12) + stream("mic", [(1.0 + delay, MEETING)], 12)
    assert text_of(run(make(), arrivals)) == ""


def test_an_echo_later_than_the_lookback_is_no_echo() -> None:
    """The window is what bounds it: a phrase said again much later is speech of its own."""
    arrivals = stream("sys", [(1.0, MEETING)], 16) + stream("mic", [(1.0 + LOOKBACK_S + 1.0, MEETING)], 16)
    assert text_of(run(make(), arrivals)) == " " + MEETING


def test_an_echo_that_arrives_before_the_system_words_is_held_and_dropped() -> None:
    arrivals = stream("sys", [(1.16, MEETING)], 10) + stream("mic", [(1.0, MEETING)], 10)
    assert text_of(run(make(), arrivals)) == ""


def test_a_second_voice_in_the_room_keeps_its_words() -> None:
    arrivals = stream("sys", [(1.0, MEETING)], 14) + stream(
        "mic", [(0.2, "good morning"), (1.25, MEETING), (8.0, "sorry i could not hear the last part")], 14)
    assert text_of(run(make(), arrivals)) == " good morning sorry i could not hear the last part"


def test_talking_over_the_meeting_keeps_the_local_words_and_drops_the_echo() -> None:
    """Double talk: phrases of the echo and of the person in the room alternate in the microphone's text.

    (A single word between two pieces of echo counts as a misheard part of the echo: see the next test.)
    """
    echo = MEETING.split()
    local = LOCAL.split()
    mixed = " ".join(" ".join(echo[i : i + 3] + local[i : i + 3]) for i in range(0, len(echo), 3))
    arrivals = stream("sys", [(1.0, MEETING)], 16) + stream("mic", [(1.3, mixed)], 16)
    assert text_of(run(make(), arrivals)).split() == local


def test_short_words_that_merely_also_occur_nearby_are_kept() -> None:
    """'the' and 'on' occur in the meeting at the same time, but no run of the meeting's words is repeated."""
    arrivals = stream("sys", [(1.0, MEETING)], 10) + stream("mic", [(1.5, "is the cat on my keyboard")], 10)
    assert text_of(run(make(), arrivals)) == " is the cat on my keyboard"


def test_a_phrase_repeated_by_the_person_in_the_room_is_kept() -> None:
    """Each system word is echoed at most once: the echo takes them, the person's own repetition finds none left."""
    arrivals = stream("sys", [(1.0, "ship it friday")], 8) + stream(
        "mic", [(1.2, "ship it friday"), (2.4, "ship it friday")], 8)
    assert text_of(run(make(), arrivals)) == " ship it friday"


def test_a_slightly_misheard_echo_is_still_an_echo() -> None:
    arrivals = stream("sys", [(1.0, "the colour of the numbers looks better")], 10) + stream(
        "mic", [(1.3, "the color of a number looks bitter")], 10)
    assert text_of(run(make(), arrivals)) == ""


def test_a_single_long_word_echo_is_dropped_and_a_single_short_one_kept() -> None:
    arrivals = stream("sys", [(1.0, "absolutely"), (5.0, "yes")], 10) + stream(
        "mic", [(1.3, "absolutely"), (5.3, "yes")], 10)
    assert text_of(run(make(), arrivals)) == " yes"


def test_words_split_differently_by_the_two_sources() -> None:
    system = [Arrival(1.0 + 0.08 * i, CaptionEvent("sys", p, (i,), 0, 0)) for i, p in
              enumerate([" quarte", "rly", " num", "bers", " look", " fine"])]
    mic = [Arrival(1.2 + 0.08 * i, CaptionEvent("mic", p, (100 + i,), 0, 0)) for i, p in
           enumerate([" q", "uar", "ter", "ly n", "umb", "ers l", "ook f", "ine"])]
    assert text_of(run(make(), system + mic)) == ""


def test_local_words_wait_only_until_the_system_source_had_its_chance() -> None:
    """While the meeting is quiet (its events carry no text), a word in the room is passed on about ``settle_s``
    after it arrived, far less than ``hold_s``."""
    arrivals = stream("sys", [], 6) + stream("mic", [(2.0, "hello there")], 6)
    out = run(make(), arrivals)
    assert text_of(out) == " hello there"
    first = next(at for at, e in out if e.source_id == "mic" and e.text.strip())
    assert first - 2.0 <= SETTLE_S + STEP + 1e-9
    assert first - 2.0 >= SETTLE_S - 1e-9  # held: the system source may still say it


def test_without_any_system_event_a_word_waits_hold_s_at_most() -> None:
    echo = make()
    assert echo.add(CaptionEvent("mic", " hello", (1,), 0.0, 0.08), now=10.0) == []
    assert echo.next_due() == pytest.approx(10.0 + HOLD_S)
    assert echo.due(10.0 + HOLD_S - 0.01) == []
    released = echo.due(10.0 + HOLD_S)
    assert [e.text for e in released] == [" hello"]
    assert echo.next_due() is None


def test_kept_events_pass_unchanged_and_in_order_with_the_empty_steps_between() -> None:
    arrivals = stream("sys", [], 4) + stream("mic", [(1.0, "hello there")], 4)
    out = [e for _, e in run(make(), arrivals) if e.source_id == "mic"]
    assert out == [a.event for a in arrivals if a.event.source_id == "mic"]


def test_dropping_a_word_inside_an_event_keeps_the_spaces_right_and_estimates_its_tokens() -> None:
    """A catch-up batch: one event with several words and tokens, of which the middle ones are an echo."""
    echo = make()
    echo.add(CaptionEvent("sys", " dozen eight", (1, 2), 0, 0), now=1.0)
    batch = CaptionEvent("mic", " hello dozen eight world", (7, 8, 9, 10), 3.0, 3.32)
    out = echo.add(batch, now=1.2) + echo.due(1.2 + HOLD_S)
    assert "".join(e.text for e in out) == " hello world"
    assert [t for e in out for t in e.token_ids] == [7, 10]  # text spread evenly: 7 and 10 begin in kept words
    assert (out[0].start_s, out[0].end_s) == (3.0, 3.32)


def test_the_final_event_decides_everything_and_keeps_its_flag() -> None:
    echo = make()
    echo.add(CaptionEvent("sys", " quarterly", (1,), 0, 0), now=1.0)
    assert echo.add(CaptionEvent("mic", " hi", (5,), 0, 0), now=1.1) == []
    out = echo.add(CaptionEvent("mic", " quarterly", (6,), 0, 0, final=True), now=1.2)
    assert [(e.text, e.final) for e in out] == [(" hi", False), ("", True)]


def test_flush_passes_on_held_words() -> None:
    echo = make()
    echo.add(CaptionEvent("mic", " still", (1,), 0, 0), now=1.0)
    echo.add(CaptionEvent("mic", " talking", (2,), 0, 0), now=1.08)
    assert "".join(e.text for e in echo.flush()) == " still talking"
    assert echo.next_due() is None


def test_punctuation_standing_alone_goes_with_the_word_before() -> None:
    arrivals = stream("sys", [(1.0, "quarterly numbers")], 6) + stream("mic", [(1.3, "quarterly numbers -"),
                                                                          (4.0, "ok -")], 6)
    assert text_of(run(make(), arrivals)) == " ok -"


def test_scripts_without_spaces_are_compared_by_character() -> None:
    arrivals = stream("sys", [(1.0, "我们明天开会")], 6) + stream("mic", [(1.2, "我们明天开会"), (4.0, "好的")], 6)
    assert text_of(run(make(), arrivals)).strip() == "好的"


def test_other_sources_pass_at_once_and_pairs_are_needed() -> None:
    echo = make()
    file_event = CaptionEvent("file", " quarterly", (1,), 0, 0)
    assert echo.add(file_event, now=0.0) == [file_event]
    mic = AudioSource("mic", SourceKind.MICROPHONE, "Mic")
    system = AudioSource("sys", SourceKind.SYSTEM, "Speakers")
    file = AudioSource("f", SourceKind.FILE, "a.wav")
    assert EchoFilter.for_sources([mic]) is None
    assert EchoFilter.for_sources([mic, file]) is None
    assert isinstance(EchoFilter.for_sources([mic, system]), EchoFilter)
