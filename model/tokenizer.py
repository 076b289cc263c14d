"""Tekken tokenizer access through mistral-common: control ids by name, text decoding, incremental UTF-8."""

from __future__ import annotations

import codecs
import warnings
from pathlib import Path
from typing import Any

from model.errors import CheckpointError


class Tokenizer:
    def __init__(self, tekken_path: Path, tekken: Any = None) -> None:
        """``tekken``: an already loaded mistral-common Tekkenizer of that file, to avoid parsing it twice."""
        from mistral_common.tokens.tokenizers.tekken import Tekkenizer

        if tekken is None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # mistral-common warns about special-token policies
                    tekken = Tekkenizer.from_file(str(tekken_path))
            except FileNotFoundError:
                raise CheckpointError(f"{tekken_path} is missing.") from None
            except Exception as exc:  # mistral-common raises many types for a malformed file
                raise CheckpointError(f"{tekken_path} is not a usable Tekken tokenizer ({exc}).") from None
        self.tekken = tekken
        self.path = tekken_path
        self.n_special = self.tekken.num_special_tokens
        self.n_words = self.tekken.n_words
        self._pieces: dict[int, bytes] = {}

    def check_fits(self, vocab_size: int) -> None:
        """Refuse a tokenizer with more tokens than the model has embeddings (it belongs to another model)."""
        if self.n_words > vocab_size:
            raise CheckpointError(
                f"{self.path.name} has {self.n_words} tokens but the model only {vocab_size}: "
                "the tokenizer belongs to another model."
            )

    def control(self, name: str) -> int:
        """Id of a control token such as '[STREAMING_PAD]', looked up by name."""
        try:
            return self.tekken.get_special_token(name)
        except ValueError:
            raise CheckpointError(f"{self.path.name} has no {name} token: it does not belong to this model.") from None

    @property
    def bos(self) -> int:
        return self.tekken.bos_id

    @property
    def eos(self) -> int:
        return self.tekken.eos_id

    def piece(self, token_id: int) -> bytes:
        """Bytes of a text token; control tokens and ids outside the vocabulary have no text."""
        cached = self._pieces.get(token_id)
        if cached is None:
            if token_id < self.n_special or token_id >= self.n_words:
                cached = b""
            else:
                cached = self.tekken.id_to_byte_piece(token_id)
            self._pieces[token_id] = cached
        return cached

    def decode(self, ids: list[int]) -> str:
        return b"".join(self.piece(i) for i in ids).decode("utf-8", errors="replace")

    def encode(self, text: str) -> list[int]:
        return self.tekken.encode(text, bos=False, eos=False)


class TextStream:
    """Turns a growing list of token ids into text deltas without ever splitting a UTF-8 character."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        return self._decoder.decode(self._tokenizer.piece(token_id))

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)
