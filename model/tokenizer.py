"""Tekken tokenizer access through mistral-common: control ids by name, text decoding, incremental UTF-8."""

from __future__ import annotations

import codecs
import warnings
from pathlib import Path
from typing import Any

from model.errors import CheckpointError

_REQUIRED_CONTROLS = ("<s>", "</s>")  # every prompt starts with BOS and every reply ends with EOS
MAX_SPECIAL_TOKENS = 2**16  # 1000 in the Tekken files


def check_tekken(data: dict[str, Any], path: Path, *, max_vocab: int) -> None:
    """Refuse a tekken.json whose sizes or token lists are malformed, before mistral-common sizes anything by them.

    ``data`` is the parsed file. mistral-common itself fills missing special tokens up to the declared count and
    lists every id of the declared vocabulary, so an absurd count would hang or exhaust memory there.
    """

    def fail(what: str) -> None:
        raise CheckpointError(f"{path} is not a usable Tekken tokenizer: {what}. The file is damaged; download the "
                              "model again.")

    config = data.get("config")
    if not isinstance(config, dict):
        fail("it has no 'config' block")
    vocab_size, n_special = config.get("default_vocab_size"), config.get("default_num_special_tokens")
    for key, value, high in (("default_vocab_size", vocab_size, max_vocab),
                             ("default_num_special_tokens", n_special, MAX_SPECIAL_TOKENS)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            fail(f"'{key}' must be a whole number from 1 to {high:,}, not {value!r}")
    if n_special >= vocab_size:
        fail(f"{n_special} special tokens leave no room for text in a vocabulary of {vocab_size}")
    if not isinstance(config.get("pattern"), str) or not isinstance(config.get("version"), str):
        fail("its config lacks the 'pattern' or 'version' string")
    vocab = data.get("vocab")
    n_text = vocab_size - n_special
    if not isinstance(vocab, list) or len(vocab) < n_text:
        held = len(vocab) if isinstance(vocab, list) else 0
        fail(f"it declares {n_text:,} text tokens but its vocabulary holds {held:,}")
    for rank, entry in enumerate(vocab[:n_text]):
        if not (isinstance(entry, dict) and entry.get("rank") == rank and isinstance(entry.get("token_bytes"), str)):
            fail(f"vocabulary entry {rank} is malformed")
    specials = data.get("special_tokens")
    if specials is None:
        return  # tokenizers up to v7 may rely on mistral-common's built-in list (which has BOS and EOS)
    if not isinstance(specials, list) or len(specials) > n_special:
        fail(f"'special_tokens' must be a list of at most {n_special} tokens")
    names = set()
    for rank, entry in enumerate(specials):
        name = entry.get("token_str") if isinstance(entry, dict) else None
        if not isinstance(name, str) or entry.get("rank") != rank or name in names:
            fail(f"special token {rank} is malformed or repeated")
        names.add(name)
    missing = [n for n in _REQUIRED_CONTROLS if n not in names]
    if missing:
        fail(f"it lacks the {' and '.join(missing)} token")


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
