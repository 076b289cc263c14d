"""Counts in words that agree with their number: "1 line", "2 lines", "0 lines"."""

from __future__ import annotations


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``n`` and the noun in the form that agrees with it; ``plural`` for nouns not made plural by adding "s"."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"
