"""Asking the model, and asking about audio longer than it takes at once.

When the clips of a conversation do not fit in the model's context (``prompting.audio_cost_s`` above the model's
``max_audio_seconds``), they are split into parts of about equal length, cut where one transcript line ends and the
next begins when there is such a place; the question is asked of each part (its audio and transcript excerpt, with
the conversation so far as text), and a last, text-only turn asks the model to combine the partial answers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

from app.chat.backend import Abortable, ChatModel, Progress
from app.chat.clips import ClipRange, ClipSource, overlapping
from app.chat.model import ChatTurn, Clip, duration_text
from app.chat.prompting import CHUNK_S, audio_cost_s, build_messages
from app.engine.server.cancel import Cancel
from app.library.index import Line


def stream_answer(
    model: ChatModel, messages: list[dict[str, Any]], *, max_new_tokens: int,
    on_delta: Callable[[str], None] | None = None, cancel: Cancel | None = None,
) -> tuple[str, str]:
    """The model's answer to ``messages`` and why it ended ("eos", "length" or "stopped" once ``cancel`` is set);
    each text delta goes to ``on_delta`` as it is decoded. Closing the stream stops the model at once; a stream that
    can be aborted from another thread (a server's) is aborted the moment ``cancel`` is set, so a Stop while it waits
    for the network takes effect at once too."""
    stream = model.stream_chat(messages, max_new_tokens=max_new_tokens)
    pieces: list[str] = []
    aborting = cancel.aborting(stream.abort) if cancel is not None and isinstance(stream, Abortable) else nullcontext()
    try:
        with aborting:
            for delta in stream:
                if cancel is not None and cancel.is_set():
                    return "".join(pieces), "stopped"
                pieces.append(delta)
                if on_delta is not None:
                    on_delta(delta)
    finally:
        stream.close()
    if cancel is not None and cancel.is_set():  # an aborted stream just ends
        return "".join(pieces), "stopped"
    return "".join(pieces), stream.finish_reason or "eos"


def _boundaries(lines: Sequence[Line]) -> list[float]:
    """Times where one line has ended and the next begins (no line of any source runs across them)."""
    out, reach = [], -math.inf
    for line in sorted(lines, key=lambda ln: ln.start_s):
        if line.start_s >= reach:
            out.append(line.start_s)
        reach = max(reach, line.end_s)
    return out


def _sub(span: ClipRange, start_s: float, end_s: float) -> ClipRange:
    return ClipRange(Clip(span.clip.session_id, start_s, end_s), start_s, end_s,
                     tuple(overlapping(span.lines, start_s, end_s)))


def _split(span: ClipRange, max_audio_s: float) -> list[ClipRange]:
    """``span`` in pieces that each fit ``max_audio_s``, of about equal cost, cut at line boundaries if possible."""
    pieces, pos, end = [], span.start_s, span.end_s
    cuts = _boundaries(span.lines)
    while audio_cost_s([_sub(span, pos, end)]) > max_audio_s:
        left = math.ceil(audio_cost_s([_sub(span, pos, end)]) / max_audio_s)
        target = pos + (end - pos) / left

        def fits(t: float, start: float = pos) -> bool:
            return audio_cost_s([_sub(span, start, t)]) <= max_audio_s

        fitting = [t for t in cuts if pos < t < end and fits(t)]
        # Prefer cuts after which the rest still fits in the parts left (chunk padding can make a near cut cost one
        # more part).
        fitting = [t for t in fitting if audio_cost_s([_sub(span, t, end)]) <= (left - 1) * max_audio_s] or fitting
        if fitting:
            cut = min(fitting, key=lambda t: abs(t - target))
        elif fits(target):
            cut = target
        else:  # the longest piece that fits (the cost grows with its end)
            low, high = pos, target
            for _ in range(40):
                mid = (low + high) / 2
                low, high = (mid, high) if fits(mid) else (low, mid)
            # A transcript too long for any piece still must not stop the split: move on by a chunk.
            cut = low if low > pos else min(pos + CHUNK_S, end)
        pieces.append(_sub(span, pos, cut))
        pos = cut
    if pos < end:
        pieces.append(_sub(span, pos, end))
    return pieces


def plan_parts(ranges: Sequence[ClipRange], max_audio_s: float) -> list[tuple[ClipRange, ...]]:
    """The clips grouped into parts that each fit ``max_audio_s``; clips too long on their own are split first,
    and consecutive pieces share a part while they fit."""
    parts: list[list[ClipRange]] = []
    for span in ranges:
        for piece in _split(span, max_audio_s):
            if parts and audio_cost_s([*parts[-1], piece]) <= max_audio_s:
                parts[-1].append(piece)
            else:
                parts.append([piece])
    return [tuple(p) for p in parts]


def describe_split(ranges: Sequence[ClipRange], parts: Sequence[Sequence[ClipRange]], max_audio_s: float) -> str:
    """What was done, for the user: how long the audio is, what the model takes, how it was split."""
    whole = len(ranges) == 1 and ranges[0].clip.whole
    subject = "The recording" if whole else "The attached audio"
    total, fits = sum(r.duration_s for r in ranges), duration_text(max_audio_s)
    if total > max_audio_s:
        said = f"{subject} is {duration_text(total)} long, more than the {fits} the model takes at once"
    else:
        said = (f"{subject} is {duration_text(total)} long; with its transcript it is more than the model takes "
                f"at once ({fits} of audio alone)")
    durations = [sum(r.duration_s for r in p) for p in parts]
    shortest, longest = duration_text(min(durations)), duration_text(max(durations))
    size = shortest if shortest == longest else f"{shortest} to {longest}"
    return f"{said}: it was split into {len(parts)} parts of {size}; each was asked and the answers combined."


@dataclass(frozen=True)
class PartAnswer:
    """The answer the model gave for one part."""

    spans: tuple[ClipRange, ...]
    text: str
    finish_reason: str

    def describe(self) -> str:
        return ", ".join(s.span() for s in self.spans)


@dataclass(frozen=True)
class LongAnswer:
    """The combined answer (or, when stopped before combining, the partial answers so far) and what was done."""

    text: str
    finish_reason: str
    parts: tuple[PartAnswer, ...]
    message: str


def _combine_question(question: str, answers: Sequence[PartAnswer]) -> str:
    blocks = "\n\n".join(f"Answer from part {n} ({a.describe()}):\n{a.text.strip() or '(no answer)'}"
                          for n, a in enumerate(answers, start=1))
    return (f"The recording was too long to hear at once, so it was split into {len(answers)} parts and this "
            f"question was asked of each part:\n\nQuestion: {question}\n\n{blocks}\n\nCombine these into one "
            "answer to the question, as if you had heard the whole recording. Keep the [mm:ss] times they cite, "
            "and leave out parts that found nothing relevant.")


def _partial_text(answers: Sequence[PartAnswer]) -> str:
    return "\n\n".join(f"Part {n} ({a.describe()}):\n{a.text}" for n, a in enumerate(answers, start=1))


def answer_in_parts(
    model: ChatModel, turns: Sequence[ChatTurn], source: ClipSource, *, max_audio_s: float | None = None,
    max_new_tokens: int = 1024, on_delta: Callable[[str], None] | None = None, progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> LongAnswer:
    """Answer the last (user) turn of ``turns`` part by part and combine; only the combined answer streams to
    ``on_delta``. ``max_audio_s`` defaults to the model's ``max_audio_seconds``."""
    max_audio_s = model.max_audio_seconds if max_audio_s is None else max_audio_s
    ranges = [source.range(c) for t in turns for c in t.clips]
    parts = plan_parts(ranges, max_audio_s)
    message = describe_split(ranges, parts, max_audio_s)
    steps = len(parts) + 1
    history = [replace(t, clips=()) for t in turns[:-1]]
    question = turns[-1]
    answers: list[PartAnswer] = []
    for n, part in enumerate(parts, start=1):
        where = ", ".join(s.span() for s in part)
        if progress is not None:
            progress((n - 1) / steps, f"Asking part {n} of {len(parts)} ({where})…")
        note = (f"This is part {n} of {len(parts)} of a longer recording: {where}. Answer from this part only, and "
                "say so briefly if it holds nothing relevant.")
        messages = build_messages([*history, replace(question, clips=tuple(s.clip for s in part))], source)
        messages[-1]["content"].insert(-1, {"type": "text", "text": note})  # after the audio, before the question
        text, reason = stream_answer(model, messages, max_new_tokens=max_new_tokens, cancel=cancel)
        answers.append(PartAnswer(part, text, reason))
        if reason == "stopped":
            return LongAnswer(_partial_text(answers), "stopped", tuple(answers),
                              f"{message} Stopped while asking part {n} of {len(parts)}.")
    if progress is not None:
        progress(len(parts) / steps, "Combining the answers…")
    combine = [{"role": t.role, "content": t.text} for t in history if t.text.strip()]
    combine.append({"role": "user", "content": _combine_question(question.text, answers)})
    text, reason = stream_answer(model, combine, max_new_tokens=max_new_tokens, on_delta=on_delta, cancel=cancel)
    if progress is not None:
        progress(1.0, "Done")
    return LongAnswer(text, reason, tuple(answers), message)
