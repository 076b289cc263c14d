"""The thread that keeps one live transcription going on a vLLM server, whatever the network does.

It owns the connection: audio chunks come in on its inbox (never blocking the caller), token events and reports go
out on an outbox. When the connection drops, the server stops answering, or audio piles up faster than the link
takes it, it says so once, reconnects with back-off and resumes at the live edge: audio that arrives while no
connection is up is not sent late, and the stretch without captions is reported as a gap. It starts a new
transcription at a pause well before the server's length limit. Errors that need the user (a refused key, a model
the server does not serve) end it with a ``Fatal`` message instead.

Threads: this one (the state below is its own), one reader per connection and a short-lived dialer per attempt;
they talk to it through the inbox only.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from dataclasses import dataclass

from app.engine.base import UNKNOWN_TOKEN_ID, StreamGap, StreamNotice
from app.engine.server.address import ServerAddress, ServerError
from app.engine.server.realtime_client import SAMPLE_RATE, STEP_SAMPLES, Delta, Done, RealtimeConnection, connect
from app.engine.server.server_facts import (
    LEFT_PAD_STEPS,
    STEP_MS,
    ServerFacts,
    delay_ms_from_prompt,
    fetch_max_model_len,
    probe_delay_ms,
)
from app.events import Severity
from model import TokenEvent

STEP_S = STEP_MS / 1000.0
DEFAULT_DELAY_STEPS = 6  # vLLM's default (480 ms), used for lag accounting until the server's own is known
MAX_TRANSCRIPTION_S = 13.6 * 60  # some vLLM builds cap one transcription's audio at about this
RIGHT_PAD_STEPS = 16  # positions the server's end padding takes after the last audio (10 seen, with margin)
SOFT_SHARE, HARD_SHARE = 0.75, 0.9  # of the limit: from soft on a pause starts a new transcription; hard forces it
PAUSE_CHUNKS = 5  # quiet 80 ms chunks in a row that make a pause (0.4 s)
MIN_STALL_AUDIO_S = 1.0  # a server is only "silent" when it got at least this much audio since it last spoke
FATAL_KINDS = frozenset({"auth", "model", "tls", "address", "protocol"})
RESUME_NOTE = " Captions resume when it answers again."  # ends the notice of a failure
GAP_REASONS = {"unreachable": "server unreachable", "server": "server error", "stall": "server stopped answering",
               "slow": "connection too slow", "limit": "server ended the transcription"}


@dataclass(frozen=True)
class LinkOptions:
    open_timeout_s: float = 5.0  # connecting (TCP, TLS, WebSocket handshake, session.created)
    stall_s: float = 8.0  # audio sent and no event for this long: the stream is restarted
    first_answer_s: float = 20.0  # the same for a transcription's first step (a server warming up is slow)
    max_backoff_s: float = 10.0  # the longest wait between reconnection attempts
    max_pending_s: float = 10.0  # audio waiting to be sent; beyond it the link counts as too slow
    max_transcription_s: float | None = None  # None: the server's limits decide (learned, or 13.6 min)
    pause_dbfs: float = -40.0  # an 80 ms chunk below this RMS level is quiet


@dataclass(frozen=True, eq=False)
class Chunk:
    """Audio for the server: PCM16 from sample ``start`` of the stream on, 80 ms (the last may be shorter)."""

    start: int
    pcm: bytes
    quiet: bool

    @property
    def samples(self) -> int:
        return len(self.pcm) // 2


# -- what the link tells its stream ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Progress:
    decoded_s: float  # the stream's audio accounted for: decoded by the server, or skipped during an outage


@dataclass(frozen=True)
class Fatal:
    error: ServerError  # the link has ended; only the user can fix this


@dataclass(frozen=True)
class Crashed:
    reason: str  # the link thread failed unexpectedly (a bug): the stream must be replaced


@dataclass(frozen=True)
class Ended:
    """The link has ended after ``end()``: everything that could be transcribed was."""


# -- what others tell the link (its inbox) --------------------------------------------------------------------------
@dataclass(frozen=True)
class _End:
    pass


@dataclass(frozen=True)
class _Stop:
    pass


@dataclass(frozen=True, eq=False)
class _Dialed:
    attempt: int
    connection: RealtimeConnection | None
    error: ServerError | None


@dataclass(frozen=True)
class _Heard:
    attempt: int
    event: Delta | Done | ServerError


@dataclass
class _Transcription:
    """The transcription running on the current connection (link thread only)."""

    origin: int | None = None  # the stream sample its audio starts at (set by the first chunk sent)
    sent: int = 0  # samples sent
    deltas: int = 0  # steps received
    last_heard: float = 0.0  # monotonic time of the last event (or of the start)
    unanswered: int = 0  # samples sent since then
    ending: bool = False  # the final commit went out; waiting for done


@dataclass(frozen=True)
class _Outage:
    start_s: float  # where captions stopped, on the stream's timeline
    reason: str


class Link:
    """Sends one stream's audio to the server and brings back its steps (see the module docstring)."""

    def __init__(self, address: ServerAddress, model: str, facts: ServerFacts, options: LinkOptions,
                 outbox: queue.Queue) -> None:
        self._address, self._model, self._facts, self._options = address, model, facts, options
        self._outbox = outbox
        self._inbox: queue.Queue = queue.Queue()
        self._stopping = threading.Event()  # stop() skips whatever is still queued
        self._lock = threading.Lock()  # guards the three below, shared with the feeding thread and dialers
        self._pending = 0  # samples put and not yet taken by this thread
        self._overflowed = False
        self._closed = False  # the thread has ended: dialers close what they open
        self._live: RealtimeConnection | None = None  # for stop() to abort from another thread
        self._thread = threading.Thread(target=self._run, name="realtime-link", daemon=True)
        # The link thread's own state:
        self._connection: RealtimeConnection | None = None
        self._attempt = 0
        self._dialing = False
        self._retries = 0  # failed attempts since captions last came
        self._retry_at: float | None = None
        self._tx: _Transcription | None = None
        self._held: list[Chunk] = []  # audio waiting for a transcription to start
        self._outage: _Outage | None = None
        self._ending = False
        self._running = True
        self._captioned_s = 0.0  # the end of the audio captions cover so far
        self._fed_end = 0  # the end of the last chunk taken, in samples
        self._quiet_run = 0  # quiet chunks in a row, of those sent
        self._decoded_s = 0.0

    # -- from the stream's thread ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def put_audio(self, chunk: Chunk) -> bool:
        """Queue a chunk; False (and the chunk is not taken) when too much audio waits already."""
        with self._lock:
            if self._pending + chunk.samples > self._options.max_pending_s * SAMPLE_RATE:
                self._overflowed = True
                return False
            self._pending += chunk.samples
        self._inbox.put(chunk)
        return True

    def end(self) -> None:
        """No more audio: transcribe what was sent, then post ``Ended``."""
        self._inbox.put(_End())

    def stop(self, timeout: float = 2.0) -> None:
        """End now (nothing more is posted that matters); returns once the thread has ended or ``timeout`` passed."""
        self._stopping.set()
        self._inbox.put(_Stop())
        with self._lock:
            live = self._live
        if live is not None:
            live.abort()  # a send blocked on a full socket returns at once
        self._thread.join(timeout)

    # -- the link thread -------------------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._dial()
            while self._running and not self._stopping.is_set():
                try:
                    message = self._inbox.get(timeout=self._wait_s())
                except queue.Empty:
                    message = None
                if self._stopping.is_set():
                    break
                if message is not None:
                    self._handle(message)
                if self._running:
                    self._check_clock()
        except Exception as exc:  # noqa: BLE001 — a bug here must not leave the stream silently dead
            self._outbox.put(Crashed(f"{type(exc).__name__}: {exc}"))
        finally:
            with self._lock:
                self._closed = True
            self._drop_connection()
            while True:  # a dialer may have posted a connection nobody will use
                try:
                    message = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if isinstance(message, _Dialed) and message.connection is not None:
                    message.connection.abort()

    def _handle(self, message: object) -> None:
        if isinstance(message, Chunk):
            self._take(message)
        elif isinstance(message, _Heard):
            if message.attempt == self._attempt:
                self._heard(message.event)
        elif isinstance(message, _Dialed):
            self._dialed(message)
        elif isinstance(message, _End):
            self._ending = True
            self._continue_ending()
        elif isinstance(message, _Stop):
            self._running = False

    def _take(self, chunk: Chunk) -> None:
        with self._lock:
            self._pending -= chunk.samples
            overflowed, self._overflowed = self._overflowed, False
        self._fed_end = chunk.start + chunk.samples
        if overflowed:
            self._fail(ServerError(f"The connection to the server at {self._address.describe()} is too slow for "
                                   "live audio; captions skip to what is being said now.", "unreachable"), "slow")
        if self._outage is not None:
            # Until captions come back, audio counts as handled: skipping to the live edge would not bring them.
            self._report_progress(self._fed_end / SAMPLE_RATE)
            if self._connection is None:
                return  # not sent late: captions resume at the live edge
        if self._tx is not None and not self._tx.ending:
            self._send(chunk)
        else:
            self._held.append(chunk)  # connecting for the first time, or between two transcriptions

    def _send(self, chunk: Chunk) -> None:
        tx = self._tx
        assert tx is not None and self._connection is not None
        try:
            self._connection.append(chunk.pcm)
        except ServerError as error:
            self._fail(error)
            return
        if tx.origin is None:
            tx.origin = chunk.start
            tx.last_heard = time.monotonic()
        tx.sent += chunk.samples
        tx.unanswered += chunk.samples
        self._quiet_run = self._quiet_run + 1 if chunk.quiet else 0
        steps = tx.sent / STEP_SAMPLES
        limit = self._limit_steps()
        if steps >= HARD_SHARE * limit or (steps >= SOFT_SHARE * limit and self._quiet_run >= PAUSE_CHUNKS):
            self._end_transcription()  # a new one starts when the server has finished this one

    def _heard(self, event: Delta | Done | ServerError) -> None:
        tx = self._tx
        if isinstance(event, ServerError):
            if self._is_fatal(event):
                self._fatal(event)
            else:
                self._fail(event, "server" if event.kind == "server" else "unreachable")
            return
        if tx is None:
            return
        tx.last_heard = time.monotonic()
        tx.unanswered = 0
        if isinstance(event, Delta):
            self._step(tx, event.text)
            return
        self._facts.learn_delay(delay_ms_from_prompt(event.prompt_tokens))
        if not tx.ending:  # the server ended it (its length limit): audio it dropped meanwhile got no captions
            self._outage = self._outage or _Outage(self._captioned_s, GAP_REASONS["limit"])
        self._tx = None
        self._next_transcription()

    def _step(self, tx: _Transcription, text: str) -> None:
        origin_s = (tx.origin or 0) / SAMPLE_RATE
        if tx.deltas == 0:
            self._resumed(origin_s)
        i = tx.deltas
        tx.deltas += 1
        start = origin_s + i * STEP_S
        self._outbox.put(TokenEvent(UNKNOWN_TOKEN_ID, text, LEFT_PAD_STEPS + self._delay_steps() + i, start,
                                    start + STEP_S))
        self._captioned_s = start + STEP_S
        # Like a local stream, decoding runs the delay ahead of the captions, up to the audio it was given.
        self._report_progress(origin_s + min(tx.sent / SAMPLE_RATE, (tx.deltas + self._delay_steps()) * STEP_S))

    def _resumed(self, origin_s: float) -> None:
        self._retries = 0
        self._facts.note_answered()
        outage, self._outage = self._outage, None
        if outage is None:
            return
        self._outbox.put(StreamGap(outage.start_s, max(outage.start_s, origin_s), outage.reason))
        if outage.reason != GAP_REASONS["limit"]:
            self._outbox.put(StreamNotice(Severity.INFO, f"Captions are back: the server at "
                                                         f"{self._address.describe()} answers again."))

    def _next_transcription(self) -> None:
        """After a transcription's done: start the next with the audio held meanwhile, or end."""
        if self._ending and not self._held:
            self._report_progress(self._fed_end / SAMPLE_RATE)
            self._finish_link()
            return
        self._start_transcription()
        if self._ending and self._tx is not None:
            self._end_transcription()

    def _start_transcription(self) -> None:
        assert self._connection is not None
        try:
            self._connection.start()
        except ServerError as error:
            self._fail(error)
            return
        self._tx = _Transcription(last_heard=time.monotonic())
        held, self._held = self._held, []
        for i, chunk in enumerate(held):
            if self._tx is None:  # sending failed: the rest is skipped with the outage
                break
            if self._tx.ending:  # the held audio already reached the limit: the rest goes to the next one
                self._held = held[i:]
                break
            self._send(chunk)

    def _end_transcription(self) -> None:
        tx = self._tx
        assert tx is not None and self._connection is not None
        if tx.origin is None:  # nothing was sent: nothing to wait for
            self._tx = None
            if self._ending:
                self._finish_link()
            return
        try:
            self._connection.end()
        except ServerError as error:
            self._fail(error)
            return
        tx.ending = True
        tx.last_heard = time.monotonic()

    def _continue_ending(self) -> None:
        if self._connection is None:
            if self._outage is not None or not self._dialing:
                self._close_gap_at_end()
                self._finish_link()
            return  # the first connection is still being made: the held audio goes when it is up
        if self._tx is None:
            self._next_transcription()
        elif not self._tx.ending:
            self._end_transcription()

    def _finish_link(self) -> None:
        self._close_gap_at_end()
        self._outbox.put(Ended())
        self._running = False

    def _close_gap_at_end(self) -> None:
        outage, self._outage = self._outage, None
        end_s = self._fed_end / SAMPLE_RATE
        if outage is not None and end_s > outage.start_s:
            self._outbox.put(StreamGap(outage.start_s, end_s, outage.reason))

    # -- failures and reconnection ---------------------------------------------------------------------------------
    def _fail(self, error: ServerError, cause: str = "unreachable") -> None:
        """The connection is no use any more: drop it, say so (once per outage), and try again later."""
        self._drop_connection()
        if self._outage is None or self._outage.reason == GAP_REASONS["limit"]:  # not told yet
            start_s = self._captioned_s if self._outage is None else self._outage.start_s
            self._outage = _Outage(start_s, GAP_REASONS[cause])
            self._outbox.put(StreamNotice(Severity.WARNING, f"{error}{RESUME_NOTE}"))
        self._tx = None
        for chunk in self._held:  # audio of the outage is not sent late
            self._fed_end = max(self._fed_end, chunk.start + chunk.samples)
        self._held.clear()
        self._report_progress(self._fed_end / SAMPLE_RATE)
        if self._ending:
            self._finish_link()
            return
        wait = 0.0 if self._retries == 0 else min(self._options.max_backoff_s, 0.5 * 2 ** (self._retries - 1))
        self._retries += 1
        self._retry_at = time.monotonic() + wait * random.uniform(0.8, 1.2)  # jitter: many clients, one server

    def _is_fatal(self, error: ServerError) -> bool:
        # A server that transcribed before and answers oddly now is likely going down or starting: wait for it.
        return error.kind in FATAL_KINDS and not (error.kind == "protocol" and self._facts.answered)

    def _fatal(self, error: ServerError) -> None:
        self._drop_connection()
        self._outbox.put(Fatal(error))
        self._running = False

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        self._attempt += 1  # whatever the old reader and dialer still post is ignored
        self._dialing = False
        with self._lock:
            self._live = None
        if connection is not None:
            connection.abort()

    def _dial(self) -> None:
        self._attempt += 1
        self._dialing = True
        self._retry_at = None
        threading.Thread(target=self._dial_thread, args=(self._attempt,), name="realtime-dial", daemon=True).start()

    def _dial_thread(self, attempt: int) -> None:
        timeout = self._options.open_timeout_s
        connection: RealtimeConnection | None = None
        try:
            connection = connect(self._address, self._model, open_timeout=timeout)
            if self._facts.delay_ms is None:
                self._facts.learn_delay(probe_delay_ms(connection, timeout))
            if self._facts.claim_limits_question():
                self._facts.learn_max_model_len(fetch_max_model_len(self._address, self._model, timeout))
            result = _Dialed(attempt, connection, None)
        except ServerError as error:
            result = _Dialed(attempt, None, error)
        except TimeoutError:
            result = _Dialed(attempt, None, ServerError(
                f"The server at {self._address.describe()} accepted the connection but did not transcribe within "
                f"{timeout:g} s.", "unreachable"))
        if result.connection is None and connection is not None:
            connection.abort()
        with self._lock:
            if not self._closed:
                self._inbox.put(result)
                return
        if connection is not None:
            connection.abort()

    def _dialed(self, message: _Dialed) -> None:
        if message.attempt != self._attempt:
            if message.connection is not None:
                message.connection.abort()
            return
        self._dialing = False
        if message.error is not None:
            if self._is_fatal(message.error):
                self._fatal(message.error)
            else:
                self._fail(message.error)
            return
        self._connection = message.connection
        with self._lock:
            self._live = message.connection
        threading.Thread(target=self._read, args=(message.attempt, message.connection), name="realtime-read",
                         daemon=True).start()
        self._start_transcription()
        if self._ending and self._tx is not None:
            self._end_transcription()

    def _read(self, attempt: int, connection: RealtimeConnection) -> None:
        while True:
            try:
                event = connection.receive()
            except ServerError as error:
                self._inbox.put(_Heard(attempt, error))
                return
            self._inbox.put(_Heard(attempt, event))

    # -- time ------------------------------------------------------------------------------------------------------
    def _wait_s(self) -> float | None:
        deadlines = [d for d in (self._retry_at, self._stall_deadline()) if d is not None]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _stall_deadline(self) -> float | None:
        """When the server's silence counts as a stall: it owes an answer (audio, or a final commit, was sent)."""
        tx = self._tx
        if tx is None or not (tx.ending or tx.unanswered >= MIN_STALL_AUDIO_S * SAMPLE_RATE):
            return None
        return tx.last_heard + (self._options.stall_s if tx.deltas else self._options.first_answer_s)

    def _check_clock(self) -> None:
        now = time.monotonic()
        if self._retry_at is not None and now >= self._retry_at and self._connection is None and not self._dialing:
            self._dial()
        deadline = self._stall_deadline()
        if deadline is not None and now >= deadline and self._tx is not None:
            silent = now - self._tx.last_heard
            self._fail(ServerError(f"The server at {self._address.describe()} stopped answering (nothing for "
                                   f"{silent:.0f} s).", "unreachable"), "stall")

    # -- small helpers ---------------------------------------------------------------------------------------------
    def _report_progress(self, decoded_s: float) -> None:
        if decoded_s > self._decoded_s:
            self._decoded_s = decoded_s
            self._outbox.put(Progress(decoded_s))

    def _delay_steps(self) -> int:
        delay = self._facts.delay_ms
        return DEFAULT_DELAY_STEPS if delay is None else delay // STEP_MS

    def _limit_steps(self) -> float:
        seconds = self._options.max_transcription_s or MAX_TRANSCRIPTION_S
        limit = seconds / STEP_S
        max_len = self._facts.max_model_len
        if max_len is not None:
            limit = min(limit, max_len - (1 + LEFT_PAD_STEPS + self._delay_steps()) - RIGHT_PAD_STEPS)
        return max(limit, 1.0)
