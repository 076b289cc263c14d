"""Echo without headphones, for real: the meeting plays into a PulseAudio null sink (the computer's sound), and a
loopback module carries it, later and 10 dB quieter, into a second sink; that sink's monitor, remapped into an
ordinary input source, is the "microphone", where a second voice plays too. The app lists both sources, captures
them with its own Capture threads and feeds them through the live worker (tests/fixtures/pulse.py has the server).

The model's weights are random in tests, so it cannot say whether captions repeat. Two stand-in engines do: one only
hears what the worker feeds it (for the echo canceller's numbers), the other "recognises" words made of narrow bands
of noise, one band per word (deterministic, and it hears the echo as a real model would: a quieter copy of the
meeting). What these tests prove is the audio path, the canceller on real captured audio and the caption filter
on real timing; not how the real model transcribes an echo.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication

from app.capture.devices import list_sources
from app.events import MODEL_RATE as R
from app.events import AudioBlock, AudioSource, CaptionEvent, SourceKind
from app.live import LiveCaptions
from model import TokenEvent
from tests.app.capture.test_echo_canceller import Listening
from tests.fixtures.pulse import PulseServer, pulse_server  # noqa: F401 — the fixture
from tests.fixtures.speech import espeak_speech

ROOM_SINK = "roomsink"
ROOM_MIC = "roommic"
ECHO_GAIN = 0.316  # -10 dB
LOOPBACK_MS = 150


def db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def offset_of(captured: np.ndarray, played: np.ndarray) -> int:
    """Where ``played`` lies in ``captured`` (cross-correlation through the FFT)."""
    size = 1 << (captured.size + played.size).bit_length()
    scores = np.fft.irfft(np.fft.rfft(captured, size) * np.conj(np.fft.rfft(played, size)), size)
    return int(np.argmax(scores[: captured.size - played.size + 1]))


def through(played: np.ndarray, at: int, captured: np.ndarray, fit: tuple[int, int], taps: int = 48) -> np.ndarray:
    """``played`` as it appears in ``captured`` from ``at`` on: a short filter fitted by least squares over the span
    ``fit`` of ``captured`` where nothing else is heard (resampling on the way shifts it by a fraction of a sample)."""
    placed = np.zeros(captured.size + taps, np.float64)
    placed[taps // 2 + at : taps // 2 + at + played.size] = played[: captured.size - at]
    rows = np.stack([placed[taps - k : taps - k + captured.size] for k in range(taps)], axis=1)
    a, b = fit
    weights = np.linalg.lstsq(rows[a:b], captured[a:b], rcond=None)[0]
    return (rows @ weights).astype(np.float32)


@dataclass
class Room:
    server: PulseServer
    system: AudioSource  # the monitor of the meeting's sink
    mic: AudioSource  # the remapped monitor of the room's sink

    def play_meeting(self, audio: np.ndarray):
        return self.server.play(audio, R)

    def play_in_room(self, audio: np.ndarray):
        return self.server.play(audio, R, device=ROOM_SINK)


@pytest.fixture
def room(pulse_server: PulseServer) -> Iterator[Room]:  # noqa: F811
    pactl = pulse_server.pactl
    modules = [pactl("load-module", "module-null-sink", f"sink_name={ROOM_SINK}",
                     "sink_properties=device.description=RoomSink").strip()]
    try:
        modules.append(pactl("load-module", "module-remap-source", f"source_name={ROOM_MIC}",
                             f"master={ROOM_SINK}.monitor", "source_properties=device.description=RoomMic").strip())
        # adjust_time=0: no rate adjustments, one clock, as a laptop's own microphone and speakers have (with them
        # the loopback drifts ~30 ppm; the canceller's docstring has its numbers then)
        modules.append(pactl("load-module", "module-loopback", f"source={pulse_server.monitor}", f"sink={ROOM_SINK}",
                             f"latency_msec={LOOPBACK_MS}", "adjust_time=0", "source_dont_move=true",
                             "sink_dont_move=true").strip())
        loop = next(i for i in json.loads(pactl("-f", "json", "list", "sink-inputs"))
                    if i.get("owner_module") == modules[-1])
        # pulse volumes are cubic: this integer is ECHO_GAIN as a linear amplitude
        pactl("set-sink-input-volume", str(loop["index"]), str(round(ECHO_GAIN ** (1 / 3) * 65536)))
        sources = {s.id: s for s in list_sources()}
        system, mic = sources[f"system:{pulse_server.monitor}"], sources[f"mic:pulse:{ROOM_MIC}"]
        assert (system.kind, mic.kind) == (SourceKind.SYSTEM, SourceKind.MICROPHONE)
        yield Room(pulse_server, system, mic)
    finally:
        for module in reversed(modules):
            pactl("unload-module", module)


# -- stand-in engines --------------------------------------------------------------------------------------------
BAND_HZ = 80.0  # half width of a word's band
STEP = 1280  # 80 ms, as the realtime model steps
FLOOR = 1e-4  # mean square of a band (-40 dBFS) below which nothing is heard
WORDS = {  # word -> the centre of its band
    w: 500.0 + 300.0 * i for i, w in enumerate(
        ["alpha", "bravo", "charlie", "delta", "foxtrot", "hotel", "india", "juliet",  # the meeting's
         "oscar", "quebec", "romeo", "sierra"])  # the room's
}


def band_word(word: str, seconds: float, rms: float, seed: int) -> np.ndarray:
    """Noise in the word's band only."""
    n = round(seconds * R)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / R)
    spectrum[np.abs(freqs - WORDS[word]) > BAND_HZ] = 0
    audio = np.fft.irfft(spectrum, n)
    return (audio * rms / np.sqrt(np.mean(audio**2))).astype(np.float32)


def hear(chunk: np.ndarray) -> str | None:
    """The word whose band carries one 80 ms step, if one clearly does."""
    window = np.hanning(chunk.size)
    power = np.abs(np.fft.rfft(chunk * window)) ** 2 * 2 / (chunk.size * np.sum(window**2))
    freqs = np.fft.rfftfreq(chunk.size, 1 / R)
    bands = {w: power[np.abs(freqs - f) <= BAND_HZ].sum() for w, f in WORDS.items()}
    best, second = sorted(bands.values(), reverse=True)[:2]
    if best < FLOOR or best < 4 * second:
        return None
    return max(bands, key=bands.get)


def recognise(audio: np.ndarray) -> list[str]:
    """The words a band recogniser hears in ``audio``, in order: a band held two steps is a word."""
    stream = _BandStream()
    text = "".join(e.text for e in [*stream.feed(audio), *stream.finish()])
    return text.split()


@dataclass
class _BandStream:
    """Says a word when its band has carried two steps in a row, in two pieces (" foxt", "rot"), as a model spells
    words out over steps; a word is not said again while it goes on with a step or two unheard."""

    text: str = ""
    dropped_chars: int = 0
    _buf: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    _steps: int = 0
    _heard: tuple[str | None, int] = (None, 0)  # the word of the newest steps and for how many
    _said: tuple[str | None, int] = (None, -99)  # the word said last and the last step it was heard
    _rest: str = ""

    def feed(self, samples: np.ndarray, sample_rate: int = R) -> list[TokenEvent]:
        self._buf = np.concatenate([self._buf, samples])
        events = []
        while self._buf.size >= STEP:
            chunk, self._buf = self._buf[:STEP], self._buf[STEP:]
            word = hear(chunk)
            self._heard = (word, self._heard[1] + 1 if word == self._heard[0] else 1)
            text, self._rest = self._rest, ""
            if word is not None:
                again = word == self._said[0] and self._steps - self._said[1] <= 3
                if self._heard[1] == 2 and not again:
                    text, self._rest = " " + word[:4], word[4:]
                if self._heard[1] >= 2 or again:
                    self._said = (word, self._steps)
            events.append(self._event(text))
        return events

    def finish(self) -> list[TokenEvent]:
        return [self._event(self._rest)] if self._rest else []

    def _event(self, text: str) -> TokenEvent:
        self.text += text
        self._steps += 1
        return TokenEvent(0, text, self._steps, (self._steps - 1) * STEP / R, self._steps * STEP / R)

    @property
    def decoded_seconds(self) -> float:
        return self._steps * STEP / R


class Bands:
    device_name = "test"

    def open_stream(self, delay_ms: int) -> _BandStream:
        return _BandStream()

    def release_memory(self) -> None:
        pass


# -- a session -------------------------------------------------------------------------------------------------
@dataclass
class Session:
    raw: dict[str, np.ndarray]  # what the capture delivered (and a recording would keep), per source
    captions: list[CaptionEvent]

    def words(self, source: AudioSource) -> list[str]:
        return "".join(e.text for e in self.captions if e.source_id == source.id).split()


def live_session(qtbot, room: Room, engine, meeting: np.ndarray, in_room: np.ndarray, room_at_s: float,
                 **echo) -> Session:
    """Captures both sources while the meeting plays, the second voice joining ``room_at_s`` later."""
    live = LiveCaptions()
    live.set_engine(engine)
    blocks: dict[str, list[AudioBlock]] = {room.system.id: [], room.mic.id: []}
    captions: list[CaptionEvent] = []
    live.caption.connect(captions.append)
    live.start([room.system, room.mic], listeners=[lambda b: blocks[b.source_id].append(b)], **echo)
    try:  # both captures deliver before anything plays: an idle sink's monitor can take seconds to start
        qtbot.waitUntil(lambda: all(len(b) >= 5 for b in blocks.values()), timeout=10000)
        meeting_player = room.play_meeting(meeting)
        qtbot.wait(round(room_at_s * 1000))
        room_player = room.play_in_room(in_room)
        qtbot.waitUntil(lambda: meeting_player.poll() is not None and room_player.poll() is not None, timeout=60000)
        qtbot.wait(1000)  # the loopback's delay and the monitors' tails
        with qtbot.waitSignal(live.stopped, timeout=30000):
            live.stop()
    finally:
        live.shutdown()
    QCoreApplication.processEvents()
    raw = {sid: np.concatenate([b.samples for b in parts]) for sid, parts in blocks.items()}
    return Session(raw, captions)


# -- the tests ---------------------------------------------------------------------------------------------------
MEETING = [
    "We should ship the quarterly numbers before the board meeting on Friday.",
    "Then we can talk about the budget for next year in more detail.",
    "Does anybody have questions about the plan?",
]


def test_the_model_hears_the_microphone_without_the_meeting_and_the_recording_keeps_it_raw(qtbot, room):
    meeting = 0.5 * np.concatenate([espeak_speech(t)[0] for t in MEETING])
    voice, _ = espeak_speech("Sorry, I could not hear the last part, can you say it again?", voice="en-gb")
    voice = 0.4 * voice
    room_at_s = meeting.size / R - 2.0  # the voice speaks over the meeting's last 2 s
    engine = Listening()
    session = live_session(qtbot, room, engine, meeting, voice, room_at_s, echo_cancellation=True)

    raw_system, raw_mic = session.raw[room.system.id], session.raw[room.mic.id]
    fed = [np.concatenate(s.parts) for s in engine.streams]
    assert len(fed) == 2
    system_fed = next(f for f in fed if f.size == raw_system.size and np.array_equal(f, raw_system))
    mic_fed = next(f for f in fed if f is not system_fed)
    assert mic_fed.size == raw_mic.size  # the same timeline: not a sample added or lost

    # Where things are in the microphone's capture, and proof that the recording kept the echo.
    echo_at = offset_of(raw_mic, meeting)
    heard = raw_mic[echo_at : echo_at + meeting.size]
    echo_gain = float(heard @ meeting / (meeting @ meeting))
    assert echo_gain == pytest.approx(ECHO_GAIN, rel=0.2)
    voice_at = offset_of(raw_mic, voice)
    echo_end, voice_end = echo_at + meeting.size, voice_at + voice.size
    alone = echo_end + R // 10, voice_end  # the voice after the meeting's echo has ended
    assert alone[1] - alone[0] > R // 2
    voice_here = through(voice, voice_at, raw_mic, alone)  # the voice as the microphone got it

    # Echo alone: the 3 s before the voice joins. Both talking: until the echo ends.
    a, b = voice_at - 3 * R, voice_at
    erle = db(raw_mic[a:b]) - db(mic_fed[a:b])
    c, d = voice_at, echo_end - R // 10
    under_voice = db(raw_mic[c:d] - voice_here[c:d]) - db(mic_fed[c:d] - voice_here[c:d])
    kept_db = 20 * np.log10(float(mic_fed[c:d] @ voice_here[c:d]) / float(voice_here[c:d] @ voice_here[c:d]))
    print(f"\nERLE with the echo alone {erle:.1f} dB; under the voice {under_voice:.1f} dB; "
          f"the voice's level {kept_db:+.2f} dB; echo delay {echo_at / R:.3f} s, gain {echo_gain:.3f}")
    assert erle > 12.0
    assert under_voice > 10.0
    assert kept_db == pytest.approx(0.0, abs=1.0)


def band_programme() -> tuple[np.ndarray, np.ndarray, float, list[str], list[str]]:
    """The meeting: 3 s of broadband noise (music, say) then its words over a quieter bed of that noise, which keeps
    the whole band busy as speech does; the room's words over the meeting's second half."""
    meeting_words = ["alpha", "bravo", "charlie", "delta", "foxtrot", "hotel", "india", "juliet"]
    room_words = ["oscar", "quebec", "romeo", "sierra"]
    gap = np.zeros(round(0.25 * R), np.float32)
    words = np.concatenate([np.concatenate([band_word(w, 0.4, 0.1, i), gap]) for i, w in enumerate(meeting_words)])
    noise = np.random.default_rng(9).standard_normal(3 * R + words.size).astype(np.float32)
    meeting = np.concatenate([0.03 * noise[: 3 * R], words + 0.01 * noise[3 * R :]])
    room = np.concatenate([np.concatenate([band_word(w, 0.4, 0.1, 20 + i), np.zeros(round(0.5 * R), np.float32)])
                           for i, w in enumerate(room_words)])
    return meeting, room, 3.0 + 4 * 0.65, meeting_words, room_words


def test_microphone_captions_that_repeat_the_meeting_are_dropped(qtbot, room):
    meeting, in_room, room_at_s, meeting_words, room_words = band_programme()
    session = live_session(qtbot, room, Bands(), meeting, in_room, room_at_s, echo_suppression=True)

    # Without the filter the microphone's captions would repeat the meeting: its raw audio has the meeting's words
    # (all but those the second voice drowns out).
    raw_words = recognise(session.raw[room.mic.id])
    assert len(set(meeting_words) & set(raw_words)) >= 5 and set(room_words) <= set(raw_words)
    assert session.words(room.system) == meeting_words
    assert session.words(room.mic) == room_words


def test_with_both_layers_the_microphone_captions_keep_only_the_room(qtbot, room):
    """As the program runs them: the canceller takes most of the echo out of the audio (what leaks while it learns
    or while both talk is left to the filter), and the filter drops the captions that still repeat the meeting."""
    meeting, in_room, room_at_s, meeting_words, room_words = band_programme()
    session = live_session(qtbot, room, Bands(), meeting, in_room, room_at_s, echo_cancellation=True,
                           echo_suppression=True)

    assert len(set(meeting_words) & set(recognise(session.raw[room.mic.id]))) >= 5  # the recording keeps the echo
    assert session.words(room.system) == meeting_words
    assert session.words(room.mic) == room_words
