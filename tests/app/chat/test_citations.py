"""Times cited in answers become positions in the recording."""

from __future__ import annotations

from app.chat.citations import Citation, find_citations


def test_bracketed_and_bare_times() -> None:
    text = "Budget at [12:03], the plan at 1:02:03 and again [1:02:04]; see 75:10."
    found = find_citations(text)
    assert [text[c.start : c.end] for c in found] == ["[12:03]", "1:02:03", "[1:02:04]", "75:10"]
    assert [c.seconds for c in found] == [723.0, 3723.0, 3724.0, 4510.0]


def test_ranges_give_both_ends_without_the_lone_brackets() -> None:
    text = "Discussed [12:03–15:40]."
    assert find_citations(text) == [Citation(11, 16, 723.0), Citation(17, 22, 940.0)]


def test_things_that_are_not_times() -> None:
    assert find_citations("ratio 3:4, version 1.2:30, 12:345, 12:61, a:12:03, 1:2:03:04") == []


def test_times_past_the_recording_are_dropped() -> None:
    text = "We meet at 14:30; the decision was at [03:10]."
    assert [c.seconds for c in find_citations(text, duration_s=600.0)] == [190.0]
    assert len(find_citations(text)) == 2
