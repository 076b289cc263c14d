"""A chat conversation as the model's conversation format (``model.voxtral.prompt``).

A user turn with clips carries, for each clip, its audio and its time-stamped transcript excerpt; the first such turn
also asks the model to cite moments as [mm:ss] recording times. Other user turns are text only and earlier answers
are kept, so a follow-up question is asked of the same audio. Empty answers (stopped before the first word, or
failed) are left out: the model's format has no empty assistant message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from app.chat.clips import ClipAudio, ClipRange, ClipSource
from app.chat.model import ChatTurn, clock, duration_text
from app.events import MODEL_RATE
from model import PromptTooLongError

CHUNK_S = 30.0  # the model pads every clip to whole 30 s chunks
AUDIO_TOKENS_PER_S = 375 / CHUNK_S  # Voxtral's audio tokens per second of audio
CHARS_PER_TOKEN = 3.0  # a cautious estimate for transcript text (Tekken averages nearer 4 on speech)

CITE_INSTRUCTION = (
    "Listen to the recording above and answer the question below. The transcript beside the audio was written by a "
    "speech recognizer and may contain errors; the audio is the truth. When you refer to a moment of the recording, "
    "cite its time in square brackets as [mm:ss] (or [h:mm:ss]), counted from the start of the recording, as in the "
    "transcript."
)


def audio_cost_s(ranges: Sequence[ClipRange]) -> float:
    """The context the clips take, in seconds of audio: each clip padded to whole chunks, plus its transcript."""
    return sum(math.ceil(r.duration_s / CHUNK_S) * CHUNK_S
               + len(r.excerpt) / CHARS_PER_TOKEN / AUDIO_TOKENS_PER_S for r in ranges)


def clip_content(audios: Sequence[ClipAudio]) -> list[dict[str, Any]]:
    """Content parts for clips: each clip's audio followed by what it is and its transcript."""
    parts: list[dict[str, Any]] = []
    for n, audio in enumerate(audios, start=1):
        span = audio.range
        name = f"Audio {n}" if len(audios) > 1 else "The audio"
        about = f"{name} is the recording from {clock(span.start_s)} to {clock(span.end_s)}."
        transcript = span.excerpt or "(no speech was transcribed in this part)"
        parts.append({"type": "audio", "audio": audio.samples, "sample_rate": MODEL_RATE})
        parts.append({"type": "text", "text": f"{about}\nTranscript:\n{transcript}"})
    return parts


def build_messages(
    turns: Sequence[ChatTurn], source: ClipSource, *, max_audio_s: float | None = None
) -> list[dict[str, Any]]:
    """The model conversation for ``turns`` (ending with the user's question), with the clips' audio cut from
    ``source``. With ``max_audio_s`` (the model's ``max_audio_seconds``), audio that cannot fit in the context
    raises PromptTooLongError before any audio is read."""
    if not turns or turns[-1].role != "user":
        raise ValueError("A conversation to answer ends with the user's question.")
    if max_audio_s is not None:
        ranges = [source.range(c) for t in turns for c in t.clips]
        cost = audio_cost_s(ranges)
        if cost > max_audio_s:
            total = sum(r.duration_s for r in ranges)
            raise PromptTooLongError(
                f"The attached audio is {duration_text(total)} long; with its transcript it needs about "
                f"{duration_text(cost)} of the model's context, which holds {duration_text(max_audio_s)} of audio "
                "at once. Attach a shorter clip, or let the recording be split into parts."
            )
    messages: list[dict[str, Any]] = []
    instructed = False
    for turn in turns:
        if turn.role == "assistant":
            if turn.text.strip():
                messages.append({"role": "assistant", "content": turn.text})
            continue
        if not turn.clips:
            messages.append({"role": "user", "content": turn.text})
            continue
        content = clip_content([source.audio(c) for c in turn.clips])
        question = f"Question: {turn.text}"
        if not instructed:
            question, instructed = f"{CITE_INSTRUCTION}\n\n{question}", True
        content.append({"type": "text", "text": question})
        messages.append({"role": "user", "content": content})
    return messages
