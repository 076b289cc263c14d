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
from typing import TYPE_CHECKING

from app.engine.base import StreamGap, StreamReport
from app.engine.server.address import ServerAddress, ServerError, parse_address
from app.engine.server.api_key import read_key_file
from app.engine.server.connection_test import guess_models, unencrypted_warning
from app.engine.server.file_stream import Fed, FileStream
from app.engine.server.http_client import HttpClient, ServedModel
from app.engine.server.live_stream import ServerEngine

if TYPE_CHECKING:
    import numpy as np

    from app.cli import FileTranscriber

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
    return ServerError(f"{error} {KEY_HINT}", error.kind) if error.kind == "auth" else error


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
            FileStream(engine.open_stream(0), KEY_HINT), audio, source_id=name, progress=progress)
    voxtral = ServerVoxtral(HttpClient(address), model)
    piece_s = voxtral_piece_s(voxtral.max_audio_seconds, CHUNK_S)

    def transcribe(part: np.ndarray, limit: int) -> str:  # the same bound on a looping model as locally
        return voxtral.transcribe(part, language=args.language, max_tokens=limit)

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
    return FileStream(stream, KEY_HINT) if args.fast else LiveStream(stream, KEY_HINT)


def _refuse_local_options(args: argparse.Namespace) -> None:
    from app.cli import UsageError

    if args.device is not None:
        raise UsageError("--device is for a model on this computer; with --server the server runs the model. "
                         "Leave --device out.")
    if getattr(args, "precision", None) is not None:
        raise UsageError("--precision is for a model on this computer; with --server the server decides how it keeps "
                         "the weights. Leave --precision out.")
    if args.delay_ms is not None:
        raise UsageError("--delay-ms does not apply with --server: the server fixes the delay (vLLM reads it from "
                         "the model's tekken.json). Leave --delay-ms out.")


class LiveStream(Fed):
    """A file played as a live source: as in the program, trouble is said (on stderr) and the stream reconnects and
    resumes at the live edge, with the stretch that got no captions named."""

    def _check(self, reports: list[StreamReport]) -> None:
        from app.events import CaptionGap
        from app.transcript import gap_text

        for report in reports:
            text = gap_text(CaptionGap("", report.start_s, report.end_s, report.reason)) \
                if isinstance(report, StreamGap) else report.message
            print(f"\ncaptionist: {text}", file=sys.stderr, flush=True)
