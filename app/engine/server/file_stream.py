"""A server's live stream fed from a file (``captionist transcribe``, *Transcribe again*) rather than a sound card.

A file is fed as fast as the server decodes it, and none of it may be skipped: where a live stream reconnects and
resumes at the live edge, a file's stream ends with a ServerError at the first failure, so that a transcript never
has a hole nobody was told of.
"""

from __future__ import annotations

from typing import Any

from app.engine.base import EngineUnusable, StreamGap, StreamReport
from app.engine.server.address import ServerError
from app.engine.server.live_stream import ServerStream
from app.engine.server.transcription_link import RESUME_NOTE
from app.events import Severity
from model import TokenEvent

AHEAD_S = 4.0  # audio sent ahead of what the server has decoded (the link holds at most LinkOptions.max_pending_s)


class Fed:
    """A ServerStream behind the feed/finish of a CaptionStream, whose fatal errors come out as ServerErrors (with
    ``auth_hint`` added when the API key was the trouble) and whose reports go to ``_check``."""

    def __init__(self, stream: ServerStream, auth_hint: str = "") -> None:
        self._stream, self._auth_hint = stream, auth_hint

    def feed(self, samples: Any, sample_rate: int) -> list[TokenEvent]:
        try:
            events = self._stream.feed(samples, sample_rate) + self._more()
        except EngineUnusable as exc:
            self._stream.close()
            raise self._error(exc) from None
        self._check(self._stream.take_reports())
        return events

    def finish(self) -> list[TokenEvent]:
        try:
            events = self._stream.finish()
        except EngineUnusable as exc:
            raise self._error(exc) from None
        finally:
            self._stream.close()
        self._check(self._stream.take_reports())
        return events

    @property
    def text(self) -> str:
        return self._stream.text

    @property
    def dropped_chars(self) -> int:
        return self._stream.dropped_chars

    def close(self) -> None:
        self._stream.close()

    def _error(self, exc: EngineUnusable) -> ServerError:
        error = exc.__cause__ if isinstance(exc.__cause__, ServerError) else ServerError(str(exc), "server")
        if error.kind == "auth" and self._auth_hint:
            return ServerError(f"{error} {self._auth_hint}", error.kind)
        return error

    def _more(self) -> list[TokenEvent]:
        return []

    def _check(self, reports: list[StreamReport]) -> None:
        """What to do with the stream's notices and gaps."""


class FileStream(Fed):
    """A file fed as fast as the server decodes it; the first failure on the way (a dropped connection, a server
    that stops answering) ends it with a ServerError."""

    def _more(self) -> list[TokenEvent]:
        return self._stream.drain(AHEAD_S)

    def _check(self, reports: list[StreamReport]) -> None:
        for report in reports:
            if isinstance(report, StreamGap) or report.severity is not Severity.INFO:
                self._stream.close()
                at = self._stream.decoded_seconds
                why = report.reason if isinstance(report, StreamGap) else report.message.removesuffix(RESUME_NOTE)
                raise ServerError(f"it stopped transcribing {at:.1f} s into the audio: {why.strip()}",
                                  "unreachable")


def for_a_file(stream: Any) -> Any:
    """``stream`` as a file is fed to it: a server's wrapped in a FileStream, any other as it is."""
    return FileStream(stream) if isinstance(stream, ServerStream) else stream
