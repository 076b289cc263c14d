"""Counts in words agree with their number."""

from __future__ import annotations

from app.ui.plural import count


def test_one_is_singular_and_every_other_number_plural() -> None:
    assert [count(n, "line") for n in (0, 1, 2, 11)] == ["0 lines", "1 line", "2 lines", "11 lines"]
    assert count(1, "match", "matches") == "1 match" and count(3, "match", "matches") == "3 matches"
