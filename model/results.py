"""Plain result types returned by both models."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Transcription:
    text: str
    token_ids: list[int]  # every generated id in order, control ids included, ending before EOS


@dataclass(frozen=True)
class Reply:
    text: str
    token_ids: list[int]  # generated ids in order, ending before EOS
    finish_reason: str  # "eos": the model ended its reply; "length": max_new_tokens (or the context) ran out


@dataclass(frozen=True)
class TokenEvent:
    """One decoded 80 ms step of a live stream."""

    token_id: int
    text: str  # the text this token adds ("" for control tokens, or while a UTF-8 character is incomplete)
    position: int  # decoder position that produced the token
    start_s: float  # span of the stream's audio (seconds from its first sample) the token describes
    end_s: float
