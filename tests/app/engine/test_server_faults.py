"""Live captions through vLLM when things go wrong: a server killed and started again, a wrong key or model, no
server at all, and (through tests/fixtures/tcp_proxy.py) a cut, slow or stalled connection. Each says so once, in
words, and captions come back by themselves where they can; nothing raises out of the worker."""

from __future__ import annotations

import numpy as np
import pytest

from app.audio_queue import AudioQueue
from app.engine.server.address import parse_address
from app.engine.server.live_stream import ServerEngine
from app.engine.server.transcription_link import LinkOptions
from app.events import MODEL_RATE, Severity
from app.status_text import is_behind
from tests.app.engine.test_server_stream import LiveFeed, as_sent, engine_for
from tests.app.engine.test_worker import Recorder, make_worker, run_to_end  # noqa: F401 — a fixture
from tests.fixtures.speech import espeak_speech
from tests.fixtures.tcp_proxy import TcpProxy
from tests.fixtures.vllm_server import free_port

BACK = "Captions are back"


@pytest.fixture(scope="module")
def talk() -> np.ndarray:
    """Speech with a pause after it, played in a loop by the tests that run a while."""
    audio, _ = espeak_speech("Captions should keep up with every word said in the meeting.")
    return as_sent(np.concatenate([audio, np.zeros(MODEL_RATE // 2, np.float32)]))[1]


@pytest.fixture
def proxy(vllm_realtime):
    with TcpProxy("127.0.0.1", vllm_realtime.port) as p:
        yield p


def through(proxy: TcpProxy) -> str:
    return f"http://127.0.0.1:{proxy.port}"


def of(rec: Recorder, severity: Severity) -> list[str]:
    return [n.message for n in rec.notices if n.severity is severity]


def trouble(rec: Recorder) -> list[str]:
    """The warnings about the server. A cold server, or a fresh one, can also be so slow with its first steps that
    captions fall behind and skip ahead: those warnings are the worker's, and true, and not counted here."""
    return [m for m in of(rec, Severity.WARNING) if "skipped ahead" not in m]


def outage_gaps(rec: Recorder) -> list:
    return [g for g in rec.gaps if g.reason != "captions fell behind"]


def start_live(make_worker, engine, talk, **worker_options):  # noqa: F811
    queue = AudioQueue()
    worker = make_worker(engine, queue, ["mic"], **worker_options)
    rec = Recorder(worker)
    worker.start()
    return worker, rec, LiveFeed(queue, talk, loop=True).start()


def wait_for_captions(qtbot, rec: Recorder, after_s: float = 0.0, timeout_ms: int = 120000) -> None:
    qtbot.waitUntil(lambda: any(e.token_ids and e.start_s >= after_s for e in rec.captions), timeout=timeout_ms)


def test_a_server_that_is_not_running_is_reported_once(qtbot, make_worker, talk) -> None:  # noqa: F811
    address = parse_address(f"http://127.0.0.1:{free_port()}")
    engine = ServerEngine(address, "any", options=LinkOptions(max_backoff_s=0.3))
    worker, rec, feed = start_live(make_worker, engine, talk)
    qtbot.waitUntil(lambda: bool(rec.notices), timeout=10000)
    qtbot.wait(2500)  # several more attempts fail meanwhile: none is another notice
    feed.stop()
    run_to_end(qtbot, worker)
    assert [(n.severity, n.message) for n in rec.notices] == [(
        Severity.WARNING,
        f"The server at {address.base_url} cannot be reached (connection refused). Check the address in "
        "Settings → Engine and that the server is running. Captions resume when it answers again.",
    )]
    assert not any(e.text for e in rec.captions)
    # Nothing was captioned: the gap runs from the start to the end of the audio.
    assert [(g.start_s, g.reason) for g in rec.gaps] == [(0.0, "server unreachable")]
    assert rec.gaps[0].end_s == pytest.approx(feed.fed_s, abs=0.2)


@pytest.mark.parametrize("wrong", ["api_key", "model"])
def test_a_setting_the_server_turns_down_stops_captions_with_one_notice(qtbot, make_worker, vllm_realtime, talk,  # noqa: F811
                                                                         wrong) -> None:
    engine = engine_for(vllm_realtime, **{wrong: "not-the-right-one"})
    worker, rec, feed = start_live(make_worker, engine, talk)
    qtbot.waitUntil(worker.isFinished, timeout=60000)  # it stops by itself
    feed.stop()
    qtbot.wait(50)
    expected = {
        "api_key": f"The server at {vllm_realtime.base_url} refused the API key. Check it in Settings → Engine.",
        "model": f"The server at {vllm_realtime.base_url} does not serve the model “not-the-right-one”. Settings → "
                 "Engine lists the models it serves.",
    }[wrong]
    assert [(n.severity, n.message) for n in rec.notices] == [(Severity.ERROR, expected + " Live captions stopped.")]
    assert not any(e.text for e in rec.captions)


def test_a_server_killed_mid_stream_and_started_again(qtbot, make_worker, vllm_realtime, talk) -> None:  # noqa: F811
    engine = engine_for(vllm_realtime, max_backoff_s=2.0)
    worker, rec, feed = start_live(make_worker, engine, talk, lag_ceiling_s=600.0)  # the link resumes at the edge
    try:
        wait_for_captions(qtbot, rec, after_s=1.0)
        killed_at = feed.fed_s
        vllm_realtime.kill()
        qtbot.waitUntil(lambda: bool(trouble(rec)), timeout=10000)  # at once, not at the next attempt
        vllm_realtime.start()  # about a minute; the stream keeps trying meanwhile
        ready_at = feed.fed_s
        # A fresh server is slow to give its first steps (up to half a minute here, on a busy machine).
        qtbot.waitUntil(lambda: any(BACK in m for m in of(rec, Severity.INFO)), timeout=120000)
        # Random weights can open a transcription with steps that say nothing: wait for words after the gap.
        qtbot.waitUntil(lambda: any(e.text.strip() and e.start_s >= gap.end_s for gap in outage_gaps(rec)[:1]
                                    for e in rec.captions), timeout=120000)
    finally:
        feed.stop()
        if not vllm_realtime.running:
            vllm_realtime.start()  # the next tests need it
    run_to_end(qtbot, worker)

    assert of(rec, Severity.ERROR) == []
    warnings = trouble(rec)
    assert len(warnings) == 1, warnings
    warning = warnings[0]
    assert warning.startswith(f"The connection to the server at {vllm_realtime.base_url} was lost") or \
        warning.startswith(f"The server at {vllm_realtime.base_url} cannot be reached")
    assert [m for m in of(rec, Severity.INFO) if BACK in m] == [
        f"Captions are back: the server at {vllm_realtime.base_url} answers again."]
    [gap] = outage_gaps(rec)
    assert gap.reason == "server unreachable" and gap.source_id == "mic"
    assert gap.start_s <= killed_at
    # Captions resume at the live edge: the audio of the outage is not sent late.
    assert gap.end_s >= ready_at - 1.0
    assert any(e.text for e in rec.captions if e.start_s >= gap.end_s)
    assert rec.captions[-1].final


def test_a_cut_connection_reconnects(qtbot, make_worker, vllm_realtime, proxy, talk) -> None:  # noqa: F811
    engine = engine_for(vllm_realtime, base_url=through(proxy))
    worker, rec, feed = start_live(make_worker, engine, talk, lag_ceiling_s=600.0)
    try:
        wait_for_captions(qtbot, rec, after_s=1.0)
        cut_at = feed.fed_s
        proxy.cut()
        qtbot.waitUntil(lambda: any(BACK in m for m in of(rec, Severity.INFO)), timeout=120000)
        wait_for_captions(qtbot, rec, after_s=cut_at + 0.5)
    finally:
        feed.stop()
    run_to_end(qtbot, worker)
    assert of(rec, Severity.ERROR) == []
    warnings = trouble(rec)
    assert len(warnings) == 1, warnings
    warning = warnings[0]
    assert warning.startswith(f"The connection to the server at {through(proxy)} was lost")
    [gap] = outage_gaps(rec)
    assert gap.reason == "server unreachable" and gap.start_s <= cut_at and gap.end_s > gap.start_s


@pytest.mark.parametrize("fault", ["delay", "throttle"])
def test_a_slow_link_shows_the_lag_and_skips_to_the_live_edge(qtbot, make_worker, vllm_realtime, proxy, talk,  # noqa: F811
                                                              fault) -> None:
    ceiling = 3.0
    engine = engine_for(vllm_realtime, base_url=through(proxy), stall_s=60.0, open_timeout_s=20.0)
    worker, rec, feed = start_live(make_worker, engine, talk, lag_ceiling_s=ceiling)
    try:
        wait_for_captions(qtbot, rec, after_s=0.5)
        if fault == "delay":
            proxy.delay(1.5)  # each way: steps come back three seconds late
        else:
            proxy.throttle(8000)  # bytes/s: a fifth of what live audio needs
        qtbot.waitUntil(lambda: any("skipped ahead" in m for m in of(rec, Severity.WARNING)), timeout=120000)
    finally:
        feed.stop()
        proxy.delay(0)
        proxy.throttle(None)
    run_to_end(qtbot, worker)
    assert any(is_behind(s) for s in rec.statuses)  # the lag badge showed before the skip
    assert of(rec, Severity.ERROR) == []
    fell_behind = [g for g in rec.gaps if g.reason == "captions fell behind"]
    assert fell_behind and all(g.end_s > g.start_s for g in fell_behind)


def test_a_stalled_stream_is_detected_and_restarted(qtbot, make_worker, vllm_realtime, proxy, talk) -> None:  # noqa: F811
    engine = engine_for(vllm_realtime, base_url=through(proxy), stall_s=3.0, open_timeout_s=3.0, max_backoff_s=1.0)
    worker, rec, feed = start_live(make_worker, engine, talk, lag_ceiling_s=600.0)
    try:
        wait_for_captions(qtbot, rec, after_s=0.5)
        stalled_at = feed.fed_s
        proxy.delay(120)  # the connection stays up and takes the audio; nothing comes back
        qtbot.waitUntil(lambda: bool(trouble(rec)), timeout=60000)
        proxy.delay(0)  # new connections work again
        qtbot.waitUntil(lambda: any(BACK in m for m in of(rec, Severity.INFO)), timeout=120000)
        wait_for_captions(qtbot, rec, after_s=stalled_at + 2.0)
    finally:
        feed.stop()
        proxy.delay(0)
    run_to_end(qtbot, worker)
    warnings = trouble(rec)
    assert len(warnings) == 1, warnings
    warning = warnings[0]
    assert warning.startswith(f"The server at {through(proxy)} stopped answering")
    [gap] = outage_gaps(rec)
    assert gap.reason == "server stopped answering" and gap.start_s <= stalled_at + 0.5 < gap.end_s
    assert of(rec, Severity.ERROR) == []
