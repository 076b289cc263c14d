"""Prompts for Voxtral (offline), built by mistral-common exactly as the model expects them.

Audio reaches mistral-common as lossless float WAV at the model's rate; it pads each clip to whole 30 s chunks and
lays out the [BEGIN_AUDIO] [AUDIO]... tokens. Conversation format (also used by the app):
    [{"role": "user" | "assistant", "content": str | [{"type": "text", "text": str},
                                                     {"type": "audio", "audio": array, "sample_rate": int,
                                                      "channels_first": bool (optional, for 2-D arrays)},
                                                     {"type": "audio", "path": "meeting.flac"}, ...]}, ...]
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.audio import prepare
from model.audio_file import read_file
from model.errors import AudioInputError, CheckpointError, ConversationError

# The eight languages Voxtral Mini 3B / Small 24B (2507) are documented to handle.
SUPPORTED_LANGUAGES = ("en", "es", "fr", "pt", "hi", "de", "nl", "it")


@dataclass(frozen=True)
class Prompt:
    tokens: list[int]
    audios: list[np.ndarray]  # padded clips at the model's rate, in prompt order


def _wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="FLOAT")  # lossless for float32
    return buffer.getvalue()


def checked_turns(conversation: Sequence[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    """A conversation's messages as (where, role, content), ``where`` naming the message for errors, checked
    (ConversationError when malformed): an assistant's content is text; a user's is text or a non-empty list of
    ``{'type': 'text', 'text': ...}`` and ``{'type': 'audio', ...}`` parts (their audio is read, and checked, by
    whoever sends it); the last message is the user's."""
    if isinstance(conversation, (str, bytes)) or not conversation:
        raise ConversationError("A conversation is a non-empty list of {'role': ..., 'content': ...} messages.")
    turns: list[tuple[str, str, Any]] = []
    for n, message in enumerate(conversation):
        where = f"message {n}"
        if not isinstance(message, dict) or "content" not in message:
            raise ConversationError(f"{where} must be a dict with 'role' and 'content'.")
        role, content = message.get("role"), message["content"]
        if role == "assistant":
            if not isinstance(content, str):
                raise ConversationError(f"{where}: an assistant message holds text only.")
        elif role != "user":
            raise ConversationError(f"{where}: role must be 'user' or 'assistant', not {role!r}.")
        elif not isinstance(content, str):
            for k, part in enumerate(content):
                kind = part.get("type") if isinstance(part, dict) else None
                if not (kind == "text" and isinstance(part.get("text"), str)) and kind != "audio":
                    raise ConversationError(f"{where} part {k}: expected {{'type': 'text'|'audio', ...}}.")
            if not content:
                raise ConversationError(f"{where} is empty.")
        turns.append((where, role, content))
    if conversation[-1].get("role") != "user":
        raise ConversationError("The last message must be the user's: the model replies to it.")
    return turns


def user_parts(where: str, content: Any) -> list[tuple[str, dict[str, Any]]]:
    """A checked user message's parts (text becomes one text part), each with where it is for messages."""
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
    return [(f"{where} part {k}", part) for k, part in enumerate(parts)]


class PromptBuilder:
    def __init__(self, tekken_path: Path, sample_rate: int) -> None:
        from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._tokenizer = MistralTokenizer.from_file(str(tekken_path))
        except FileNotFoundError:
            raise CheckpointError(f"{tekken_path} is missing.") from None
        except Exception as exc:  # mistral-common raises many types for a malformed file
            raise CheckpointError(f"{tekken_path} is not a usable Tekken tokenizer ({exc}).") from None
        self.sample_rate = sample_rate

    @property
    def tekkenizer(self) -> Any:
        """The underlying text tokenizer, shared with model.tokenizer.Tokenizer."""
        return self._tokenizer.instruct_tokenizer.tokenizer

    def _clip(self, chunk: dict[str, Any], where: str) -> np.ndarray:
        if "path" in chunk:
            samples, rate = read_file(chunk["path"])
            channels_first = False  # read_file gives mono samples
        elif "audio" in chunk:
            samples, rate = chunk["audio"], chunk.get("sample_rate")
            if rate is None:
                raise ConversationError(f"{where}: an audio part needs its 'sample_rate'.")
            channels_first = chunk.get("channels_first")
            if channels_first not in (None, True, False):
                raise ConversationError(f"{where}: 'channels_first' must be true, false or absent.")
        else:
            raise ConversationError(f"{where}: an audio part needs 'audio' (with 'sample_rate') or 'path'.")
        return prepare(samples, rate, self.sample_rate, what=where, channels_first=channels_first)

    def transcription(self, audio: np.ndarray, language: str | None) -> Prompt:
        """A transcription request; ``audio`` is already at the model's rate. language None: detected."""
        from mistral_common.protocol.transcription.request import TranscriptionRequest

        try:
            request = TranscriptionRequest(audio=_wav_bytes(audio, self.sample_rate), language=language)
        except ValueError as exc:
            raise ConversationError(
                f"language={language!r} is not an ISO 639-1 code such as 'en' or 'fr' "
                f"(the model is documented for {', '.join(SUPPORTED_LANGUAGES)})."
            ) from exc
        return self._encode(lambda: self._tokenizer.encode_transcription(request))

    def chat(self, conversation: Sequence[dict[str, Any]]) -> Prompt:
        from mistral_common.protocol.instruct.chunk import AudioChunk, TextChunk
        from mistral_common.protocol.instruct.messages import AssistantMessage, UserMessage
        from mistral_common.protocol.instruct.request import ChatCompletionRequest

        messages = []
        for where, role, content in checked_turns(conversation):
            if role == "assistant":
                messages.append(AssistantMessage(content=content))
                continue
            chunks: list[Any] = []
            for at, part in user_parts(where, content):
                if part["type"] == "text":
                    chunks.append(TextChunk(text=part["text"]))
                else:
                    chunks.append(AudioChunk(input_audio=_wav_bytes(self._clip(part, at), self.sample_rate)))
            messages.append(UserMessage(content=chunks))
        request = ChatCompletionRequest(messages=messages)
        return self._encode(lambda: self._tokenizer.encode_chat_completion(request))

    @staticmethod
    def _encode(encode) -> Prompt:
        try:
            tokenized = encode()
        except (AudioInputError, ConversationError):
            raise
        except Exception as exc:  # mistral-common raises several types for requests it refuses
            raise ConversationError(f"The request cannot be encoded for this model: {exc}") from exc
        audios = [np.asarray(a.audio_array, dtype=np.float32) for a in tokenized.audios]
        return Prompt(list(tokenized.tokens), audios)
