"""Caption event streams for the export tests: realtime-like token events on the 80 ms grid."""

from __future__ import annotations

import random

from app.events import CaptionEvent

STEP = 0.08
PAD = 32  # a control token id: no text, like [STREAMING_PAD] between words


def speak(source: str, start_step: int, tokens: list[str], *, steps_per_token: int = 2, first_id: int = 1000,
          final: bool = False) -> list[CaptionEvent]:
    """One event per 80 ms step from ``start_step`` on: each text token after ``steps_per_token - 1`` pad steps."""
    events = []
    step = start_step
    for k, text in enumerate(tokens):
        for _ in range(steps_per_token - 1):
            events.append(CaptionEvent(source, "", (PAD,), round(step * STEP, 2), round((step + 1) * STEP, 2)))
            step += 1
        events.append(CaptionEvent(source, text, (first_id + k,), round(step * STEP, 2), round((step + 1) * STEP, 2)))
        step += 1
    if final and events:
        last = events[-1]
        events[-1] = CaptionEvent(last.source_id, last.text, last.token_ids, last.start_s, last.end_s, True)
    return events


def random_events(rng: random.Random, *, sources: int = 2, n_words: int = 120) -> list[CaptionEvent]:
    """A random conversation: words of 1 to 14 letters (sometimes a 60-letter one), punctuation, pauses, several
    tokens per word, turns that overlap in time, text deltas that are often batched into multi-token events."""
    events: list[CaptionEvent] = []
    step = {f"s{i}": rng.randrange(0, 20) for i in range(sources)}
    ids = iter(range(10_000, 10**9))
    for _ in range(n_words):
        source = rng.choice(sorted(step))
        length = 60 if rng.random() < 0.02 else rng.randint(1, 14)
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzé") for _ in range(length))
        word += rng.choice(["", "", "", "", ",", ".", "?", "!"])
        step[source] += rng.choice([0, 0, 1, 1, 2, 5, 12, 30])  # silence before the word
        cuts = sorted(rng.sample(range(1, len(word)), min(len(word) - 1, rng.randint(0, 3))))
        pieces = [word[a:b] for a, b in zip([0, *cuts], [*cuts, len(word)], strict=True)]
        pieces[0] = " " + pieces[0]
        batch = rng.choice([1, 1, 1, 2, 3])
        for i in range(0, len(pieces), batch):
            group = pieces[i : i + batch]
            start = step[source]
            step[source] += len(group) * rng.choice([1, 1, 2, 3])
            events.append(CaptionEvent(source, "".join(group), tuple(next(ids) for _ in group),
                                       round(start * STEP, 2), round(step[source] * STEP, 2)))
    return events
