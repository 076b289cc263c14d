"""Voxtral Mini 3B served by vLLM: what the chat and transcribing again use of the local ``VoxtralModel``
(``max_audio_seconds``, ``stream_chat``, transcription), through the server's OpenAI-style endpoints.

Conversations are in the local model's format (``model.voxtral.prompt``: text parts, and audio parts as samples with
their rate or as a file path); they become OpenAI messages with ``input_audio`` parts. Audio goes as 16-bit PCM WAV
at 16 kHz: the recordings' own format, so mixing aside nothing is lost, half the size of float samples, and no
resampling is left to the server (vLLM's CPU build has no resampler).

How much audio fits: the server states its context (``max_model_len``); Voxtral's encoder turns every 30 s chunk
into 375 tokens (12.5 per second) and pads each clip to whole chunks, so the local model's rule applies unchanged:
whole chunks next to 1024 tokens kept for the question and the answer. This needs no tokenizer (there is no
tokenizer file for a server's model here), and the chat's cost estimate (``app.chat.prompting``) uses the same fixed
rates, so a request it lets through fits; should the server still refuse, its message says why.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.engine.server.address import ServerError
from app.engine.server.cancel import Cancel
from app.engine.server.http_client import HttpClient, ServedModel, TextStream
from model import ConversationError
from model.voxtral.prompt import checked_turns, user_parts

SAMPLE_RATE = 16000
CHUNK_S = 30.0
TOKENS_PER_CHUNK = 375
EXCHANGE_TOKENS = 1024  # as the local model keeps for the question and the answer
DEFAULT_CONTEXT = 32768  # Voxtral Mini 3B's, for a server that does not state its own
_REASONS = {"stop": "eos", "length": "length"}  # the server's finish reasons in the local model's words


def audio_seconds_fitting(context: int) -> float:
    """Audio that fits in ``context`` tokens next to a question and its answer (whole 30 s chunks)."""
    return max(0, (context - EXCHANGE_TOKENS) // TOKENS_PER_CHUNK) * CHUNK_S


def wav_bytes(samples: np.ndarray) -> bytes:
    """Mono float samples at 16 kHz as a 16-bit PCM WAV file."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.asarray(samples, dtype=np.float32), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _audio(part: dict[str, Any], where: str) -> np.ndarray:
    from model.audio import prepare
    from model.audio_file import read_file

    if "path" in part:
        samples, rate = read_file(part["path"])
        channels_first: bool | None = False  # read_file gives mono samples
    elif "audio" in part:
        samples, rate, channels_first = part["audio"], part.get("sample_rate"), part.get("channels_first")
        if rate is None:
            raise ConversationError(f"{where}: an audio part needs its 'sample_rate'.")
    else:
        raise ConversationError(f"{where}: an audio part needs 'audio' (with 'sample_rate') or 'path'.")
    return prepare(samples, rate, SAMPLE_RATE, what=where, channels_first=channels_first)


def openai_messages(conversation: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``conversation`` (the local model's format) as OpenAI chat messages; ConversationError as locally."""
    messages: list[dict[str, Any]] = []
    for where, role, content in checked_turns(conversation):
        if isinstance(content, str):
            messages.append({"role": role, "content": content})
            continue
        parts: list[dict[str, Any]] = []
        for at, part in user_parts(where, content):
            if part["type"] == "text":
                parts.append({"type": "text", "text": part["text"]})
            else:
                data = base64.b64encode(wav_bytes(_audio(part, at))).decode("ascii")
                parts.append({"type": "input_audio", "input_audio": {"data": data, "format": "wav"}})
        messages.append({"role": "user", "content": parts})
    return messages


class ServerChatStream:
    """The text deltas of a served answer, as the local model's ChatStream gives them: ``finish_reason`` is "eos"
    or "length" once it has ended (None before, and after an abort). ``abort()`` stops it at once from any thread
    (the server stops too); ``close()`` on the iterating thread frees it."""

    def __init__(self, stream: TextStream, server: str) -> None:
        self._stream, self._server = stream, server

    def __iter__(self) -> ServerChatStream:
        return self

    def __next__(self) -> str:
        try:
            return next(self._stream)
        except StopIteration:
            reason = self._stream.finish_reason
            if reason is not None and reason not in _REASONS:  # e.g. "abort": the server gave up on it
                raise ServerError(f"The server at {self._server} ended the answer early (“{reason}”).",
                                  "server") from None
            raise

    @property
    def finish_reason(self) -> str | None:
        reason = self._stream.finish_reason
        return None if reason is None else _REASONS.get(reason, reason)

    def abort(self) -> None:
        self._stream.abort()

    def close(self) -> None:
        self._stream.close()


class ServerVoxtral:
    """Voxtral Mini 3B (or a model of its family) as ``served`` by the server ``client`` talks to."""

    sample_rate = SAMPLE_RATE

    def __init__(self, client: HttpClient, served: ServedModel) -> None:
        self.client, self.served = client, served

    @property
    def name(self) -> str:
        return self.served.name

    @property
    def max_audio_seconds(self) -> float:
        """How much audio fits in the server's context, leaving room for a question and an answer."""
        return audio_seconds_fitting(self.served.max_model_len or DEFAULT_CONTEXT)

    def stream_chat(
        self, conversation: Sequence[dict[str, Any]], *, max_new_tokens: int = 1024, temperature: float = 0.0,
        top_p: float = 1.0, seed: int | None = None,
    ) -> ServerChatStream:
        """Text deltas of the reply as the server generates them; nothing is sent before the first ``next``."""
        # The server refuses a max_tokens above its context; a prompt plus max_tokens beyond it, vLLM cuts itself.
        limit = min(max_new_tokens, self.served.max_model_len or max_new_tokens)
        stream = self.client.stream_chat(self.name, openai_messages(conversation), max_tokens=limit,
                                         temperature=temperature, top_p=top_p, seed=seed)
        return ServerChatStream(stream, self.client.address.describe())

    def transcribe(self, audio: np.ndarray, *, language: str | None = None, max_tokens: int | None = None,
                   cancel: Cancel | None = None) -> str:
        """The text of 16 kHz mono ``audio`` (language None: detected; at most ``max_tokens``, None: as many as the
        server allows); ``cancel`` aborts the request at once (Cancelled)."""
        return self.client.transcribe(self.name, wav_bytes(audio), language=language, max_tokens=max_tokens,
                                      cancel=cancel)
