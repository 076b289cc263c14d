"""End to end through real capture: speech played into a PulseAudio null sink, the app capturing its monitor, the
real engine on a tiny random checkpoint, and the overlay showing what the same engine transcribes offline."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QCoreApplication

from app.captions.overlay import CaptionOverlay
from app.captions.style import CaptionStyle
from app.capture.devices import list_sources
from app.engine.local import LocalEngine
from app.events import MODEL_RATE, AudioBlock, CaptionEvent, SourceKind
from app.live import LiveCaptions
from tests.fixtures.pulse import pulse_server  # noqa: F401 — the fixture
from tests.fixtures.speech import espeak_speech


def best_alignment(captured: np.ndarray, played: np.ndarray) -> tuple[int, float]:
    """Offset of ``played`` inside ``captured`` and the correlation there."""
    scores = np.correlate(captured, played, mode="valid")
    offset = int(np.argmax(scores))
    segment = captured[offset : offset + played.size]
    return offset, float(np.corrcoef(segment, played)[0, 1])


def test_captions_of_captured_system_audio_equal_offline_transcription(qtbot, pulse_server, tiny_realtime):  # noqa: F811
    model = tiny_realtime.model
    speech, _ = espeak_speech("Hello there, this is a test of live captions from a null sink.")
    monitor = next(s for s in list_sources() if s.id == f"system:{pulse_server.monitor}")
    assert monitor.kind is SourceKind.SYSTEM

    live = LiveCaptions()
    live.set_engine(LocalEngine(model))
    overlay = CaptionOverlay(CaptionStyle(fade_after_s=0))
    qtbot.addWidget(overlay)
    overlay.show()
    captions: list[CaptionEvent] = []
    live.caption.connect(captions.append)
    live.caption.connect(overlay.add_caption)
    captured: list[AudioBlock] = []  # what the capture thread delivered, in the order it reached the engine
    levels = []
    live.level.connect(levels.append)

    live.start([monitor], listeners=[captured.append])
    try:
        qtbot.waitUntil(lambda: len(captured) >= 5, timeout=10000)  # capturing before the speech starts
        player = pulse_server.play(speech, MODEL_RATE)
        qtbot.waitUntil(lambda: player.poll() is not None, timeout=30000)
        qtbot.wait(400)  # the tail of the playback reaches the monitor
        with qtbot.waitSignal(live.stopped, timeout=60000):
            live.stop()
    finally:
        live.shutdown()
    QCoreApplication.processEvents()

    audio = np.concatenate([b.samples for b in captured])
    starts = [b.start_s for b in captured]
    assert starts == sorted(starts) and starts[0] == 0.0  # one continuous timeline
    _, correlation = best_alignment(audio, speech)
    assert correlation > 0.9  # the speech really went through the sound server and the capture path
    assert max(r.peak for r in levels) > 0.1  # the level meter saw it

    offline = model.transcribe(audio, MODEL_RATE)
    assert len(set(offline.token_ids)) > 3
    streamed = [t for e in captions for t in e.token_ids]
    assert streamed[: len(offline.token_ids)] == offline.token_ids
    if len(streamed) > len(offline.token_ids):  # a live stream carries on past an EOS; offline stops there
        assert streamed[len(offline.token_ids)] == model.tokenizer.eos
    else:
        assert overlay.full_text() == offline.text
    assert overlay.full_text().startswith(offline.text)
    assert captions[-1].final
    assert overlay.visible_lines()
