"""A stand-in for the sounddevice module: device lists of other platforms, and streams that fail on cue.

Only what app.capture uses is imitated: query_devices, query_hostapis, default.device, PortAudioError,
WasapiSettings and InputStream (callback mode). A stream's audio is a continuous 440 Hz sine produced by a thread
in blocks of ``blocksize``, as a sound card's driver would call the callback.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np


class PortAudioError(Exception):
    pass


PA_INVALID_SAMPLE_RATE = -9997
PA_HOST_ERROR = -9999


@dataclass
class Flags:
    input_overflow: bool = False


def device(name: str, hostapi: int, inputs: int = 2, outputs: int = 0, rate: float = 48000.0) -> dict:
    return {
        "name": name,
        "hostapi": hostapi,
        "max_input_channels": inputs,
        "max_output_channels": outputs,
        "default_samplerate": rate,
    }


class WasapiWithoutLoopback:
    """sounddevice 0.5's WasapiSettings: no loopback argument."""

    def __init__(self, exclusive: bool = False, auto_convert: bool = False) -> None:
        self.exclusive = exclusive


class WasapiWithLoopback:
    def __init__(self, loopback: bool = False) -> None:
        self.loopback = loopback


@dataclass
class FakeSounddevice:
    """Configure the fields, then hand it to list_sources / Capture as ``sd``."""

    devices: list[dict]
    hostapis: list[str] = field(default_factory=lambda: ["ALSA"])
    default_input: int = 0
    fail_opens: int = 0  # the next this many InputStream() calls raise a host error
    refused_rates: set[int] = field(default_factory=set)
    blocks_before_unplug: int | None = None  # the first stream's device vanishes after this many blocks
    fail_opens_after_unplug: int = 0  # and the next this many opens fail, as while it is still unplugged
    unplug_reports_error: bool = False  # the lost stream raises on use instead of ending (finished_callback)
    overflow_at_block: int | None = None  # flag an input overflow on this block of each stream
    wasapi_settings: type = WasapiWithoutLoopback
    streams: list[FakeStream] = field(default_factory=list)
    sample_clock: int = 0  # frames produced over all streams, so the sine stays continuous

    PortAudioError = PortAudioError

    @property
    def default(self) -> SimpleNamespace:
        return SimpleNamespace(device=[self.default_input, -1])

    def query_devices(self) -> list[dict]:
        return list(self.devices)

    def query_hostapis(self) -> tuple[dict, ...]:
        return tuple({"name": name} for name in self.hostapis)

    def WasapiSettings(self, **kwargs: Any) -> Any:  # noqa: N802  (sounddevice's name)
        return self.wasapi_settings(**kwargs)

    def InputStream(self, **kwargs: Any) -> FakeStream:  # noqa: N802
        if self.fail_opens > 0:
            self.fail_opens -= 1
            raise PortAudioError("Error opening InputStream: Unanticipated host error", PA_HOST_ERROR)
        if kwargs["samplerate"] in self.refused_rates:
            raise PortAudioError("Error opening InputStream: Invalid sample rate", PA_INVALID_SAMPLE_RATE)
        stream = FakeStream(self, kwargs, pulse_source=os.environ.get("PULSE_SOURCE"))
        self.streams.append(stream)
        return stream


class FakeStream:
    def __init__(self, sd: FakeSounddevice, kwargs: dict, pulse_source: str | None) -> None:
        self.sd = sd
        self.kwargs = kwargs
        self.pulse_source = pulse_source  # PULSE_SOURCE as it was while the stream opened
        self._active = False
        self._broken = False
        self.closed = False
        self.blocks = 0
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        if self._broken:
            raise PortAudioError("Error checking stream: Unanticipated host error", PA_HOST_ERROR)
        return self._active

    def start(self) -> None:
        self._active = True
        self._thread = threading.Thread(target=self._driver, daemon=True)
        self._thread.start()

    def _driver(self) -> None:
        rate, n, channels = self.kwargs["samplerate"], self.kwargs["blocksize"], self.kwargs["channels"]
        unplug_after = self.sd.blocks_before_unplug if self.sd.streams[0] is self else None
        # Ten times faster than real time: the capture side must not depend on the pace.
        while not self._halt.wait(n / rate / 10):
            if unplug_after is not None and self.blocks >= unplug_after:
                self.sd.fail_opens = self.sd.fail_opens_after_unplug
                if self.sd.unplug_reports_error:
                    self._broken = True
                else:
                    self._active = False
                    self.kwargs["finished_callback"]()
                return
            t = (self.sd.sample_clock + np.arange(n)) / rate
            self.sd.sample_clock += n
            block = np.repeat((0.5 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)[:, None], channels, axis=1)
            self.kwargs["callback"](block, n, None, Flags(input_overflow=self.blocks == self.sd.overflow_at_block))
            self.blocks += 1

    def close(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join()
        if self._active:
            self._active = False
            self.kwargs["finished_callback"]()
        self.closed = True
