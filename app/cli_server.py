"""``captionist transcribe|stream --server URL``: the command line with a model a vLLM server serves instead of one
loaded here, with the same output and exit codes.

Which model: ``--model`` names a served model; without it, the one whose name says Realtime, else the only one. A
served model whose name says Realtime is used as the realtime model (its words get times on the 80 ms grid); any
other is taken for Voxtral Mini 3B and transcribes through ``/v1/audio/transcriptions``. The server fixes the delay.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.engine.base import EngineUnusable, StreamGap, StreamReport
from app.engine.server.address import ServerAddress, ServerError, parse_address
from app.engine.server.api_key import read_key_file
from app.engine.server.connection_test import guess_models, unencrypted_warning
from app.engine.server.http_client import HttpClient, ServedModel
from app.engine.server.live_stream import ServerEngine, ServerStream
from app.engine.server.transcription_link import RESUME_NOTE
from app.events import Severity

if TYPE_CHECKING:
    import numpy as np

    from app.cli import FileTranscriber
    from model import TokenEvent

FILE_AHEAD_S = 4.0  # of a file, audio sent ahead of what the server has decoded (the link holds at most 10 s)
KEY_HINT = "On the command line, give the key with --api-key-file FILE."


def _address(args: argparse.Namespace) -> ServerAddress:
    """The server ``--server`` names, with the key ``--api-key-file`` holds; UsageError when either is unusable."""
    from app.cli import UsageError

    key = None
    if args.api_key_file:
        try:
            key = read_key_file(Path(args.api_key_file))
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise UsageError(f"--api-key-file {args.api_key_file}: {reason}") from None
    try:
        address = parse_address(args.server, key)
    except ServerError as exc:
        raise UsageError(f"--server: {exc}") from None
    warning = unencrypted_warning(address)
    if warning:
        print(f"captionist: warning: {warning}", file=sys.stderr)
    return address


def _with_hint(error: ServerError) -> ServerError:
    if error.kind == "auth":
        return ServerError(f"{error} {KEY_HINT}", error.kind)
    return error


def choose_model(address: ServerAddress, wanted: str | None, *, live: bool) -> ServedModel:
    """The served model to use: ``wanted``, else the one named Realtime, else the only one (for ``live`` streams,
    never a guess at a Voxtral); ServerError when the server does not serve it, UsageError when it is for the user
    to choose."""
    from app.cli import UsageError

    try:
        models = HttpClient(address).models()
    except ServerError as exc:
        raise _with_hint(exc) from None
    names = tuple(m.name for m in models)
    listed = ", ".join(names) or "no model"
    if wanted:
        for model in models:
            if model.name == wanted:
                return model
        raise ServerError(f"The server at {address.describe()} does not serve the model “{wanted}”. It serves: "
                          f"{listed}.", "model")
    realtime, voxtral = guess_models(names)
    name = realtime or (voxtral if not live and len(names) == 1 else "")
    if not name:
        raise UsageError(f"the server at {address.describe()} serves {listed}: choose one with --model.")
    return next(m for m in models if m.name == name)


def is_realtime(model: ServedModel) -> bool:
    return "realtime" in model.name.lower()


def open_server(args: argparse.Namespace) -> tuple[int | None, FileTranscriber]:
    """For ``transcribe``: the rate files are read at (None: their own) and how the server transcribes them;
    ``args.model`` becomes the served model's name."""
    from app.cli import UsageError, realtime_events, voxtral_events, voxtral_piece_s
    from app.engine.server.server_voxtral import CHUNK_S, ServerVoxtral

    _refuse_local_options(args)
    address = _address(args)
    model = choose_model(address, args.model, live=False)
    args.model = model.name
    if is_realtime(model):
        if args.language is not None:
            raise UsageError("--language is for Voxtral Mini 3B; the realtime model detects the language itself. "
                             "Leave --language out, or choose a Voxtral model with --model.")
        engine = ServerEngine(address, model.name)
        return None, lambda audio, name, progress: realtime_events(
            FileStream(engine.open_stream(0), address), audio, source_id=name, progress=progress)
    voxtral = ServerVoxtral(HttpClient(address), model)
    piece_s = voxtral_piece_s(voxtral.max_audio_seconds, CHUNK_S)

    def transcribe(part: np.ndarray, limit: int) -> str:  # the server stops at the end of speech by itself
        return voxtral.transcribe(part, language=args.language)

    return voxtral.sample_rate, lambda audio, name, progress: voxtral_events(
        transcribe, audio, piece_s=piece_s, source_id=name, progress=progress)


def open_server_stream(args: argparse.Namespace) -> FileStream | LiveStream:
    """For ``stream``: a stream of the server's realtime model, fed as a file (``--fast``) or as a live source."""
    from app.cli import UsageError

    _refuse_local_options(args)
    address = _address(args)
    model = choose_model(address, args.model, live=True)
    if not is_realtime(model):
        raise UsageError(f"“{model.name}” is not a realtime model (its name does not say Realtime), so it cannot "
                         "stream; use transcribe for it, or choose the realtime model with --model.")
    stream = ServerEngine(address, model.name).open_stream(0)
    return FileStream(stream, address) if args.fast else LiveStream(stream, address)


def _refuse_local_options(args: argparse.Namespace) -> None:
    from app.cli import UsageError

    if args.device is not None:
        raise UsageError("--device is for a model on this computer; with --server the server runs the model. "
                         "Leave --device out.")
    if args.delay_ms is not None:
        raise UsageError("--delay-ms does not apply with --server: the server fixes the delay (vLLM reads it from "
                         "the model's tekken.json). Leave --delay-ms out.")


class _Fed:
    """What both ways of feeding a server's stream share: unusable streams raise ServerError, and it is closed."""

    def __init__(self, stream: ServerStream, address: ServerAddress) -> None:
        self._stream, self._address = stream, address

    def feed(self, samples: Any, sample_rate: int) -> list[TokenEvent]:
        try:
            events = self._stream.feed(samples, sample_rate) + self._more()
        except EngineUnusable as exc:
            self._stream.close()
            raise _with_hint(ServerError(str(exc), "server")) from None
        self._check(self._stream.take_reports())
        return events

    def finish(self) -> list[TokenEvent]:
        try:
            events = self._stream.finish()
        except EngineUnusable as exc:
            raise _with_hint(ServerError(str(exc), "server")) from None
        finally:
            self._stream.close()
        self._check(self._stream.take_reports())
        return events

    def close(self) -> None:
        self._stream.close()

    def _more(self) -> list[TokenEvent]:
        return []

    def _check(self, reports: list[StreamReport]) -> None:
        raise NotImplementedError


class FileStream(_Fed):
    """A file fed as fast as the server decodes it. Nothing of it may be skipped, so a failure on the way (a
    dropped connection, a server that stops answering) ends it with a ServerError instead of a reconnection."""

    def _more(self) -> list[TokenEvent]:
        return self._stream.drain(FILE_AHEAD_S)

    def _check(self, reports: list[StreamReport]) -> None:
        for report in reports:
            if isinstance(report, StreamGap) or report.severity is not Severity.INFO:
                self._stream.close()
                at = self._stream.decoded_seconds
                why = report.reason if isinstance(report, StreamGap) else report.message.removesuffix(RESUME_NOTE)
                raise ServerError(f"it stopped transcribing {at:.1f} s into the file: {why.strip()}", "unreachable")


class LiveStream(_Fed):
    """A file played as a live source: as in the program, trouble is said (on stderr) and the stream reconnects and
    resumes at the live edge, with the stretch that got no captions named."""

    def _check(self, reports: list[StreamReport]) -> None:
        from app.events import CaptionGap
        from app.transcript import gap_text

        for report in reports:
            text = gap_text(CaptionGap("", report.start_s, report.end_s, report.reason)) \
                if isinstance(report, StreamGap) else report.message
            print(f"\ncaptionist: {text}", file=sys.stderr, flush=True)
