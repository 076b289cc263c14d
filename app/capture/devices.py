"""Which audio sources this machine has, and how to open one of them as a PortAudio input stream.

Source ids are stable strings that settings remember:

- ``mic:<device name>``: a microphone (a PortAudio input device);
- ``mic:pulse:<source name>``: a PulseAudio/PipeWire input source;
- ``system:<name>``: what the computer plays. On Linux the monitor source of an output (``vsink.monitor``); on
  Windows a WASAPI output device captured by loopback; on macOS a loopback driver's device (BlackHole and the like).

The ``device`` field of a source says how it is opened:

- ``"<device name>, <host API name>"``: a PortAudio input device, found by exactly that name and host API.
- ``"pulse:<source name>"``: PortAudio's ALSA ``pulse`` device with ``PULSE_SOURCE=<source name>`` in the
  environment while the stream opens. The ALSA pulse plugin creates its libpulse context when the device opens and
  libpulse reads ``PULSE_SOURCE`` then, so the variable is needed only for that moment; opens are serialised by a
  lock because the environment belongs to the whole process. Checked against a PulseAudio server with two null
  sinks: each stream hears only the monitor it named, also when the variable is removed right after the open.
  When such a source disappears, the sound server moves its streams to its fallback source rather than failing
  them, so PortAudio reports no error (checked: unloading a null sink while recording its monitor).
- ``"loopback:<device name>, <host API name>"``: a WASAPI output device opened for loopback capture, which needs a
  sounddevice/PortAudio build whose ``WasapiSettings`` accepts ``loopback``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from app.capture.errors import CaptureError
from app.events import AudioSource, SourceKind
from app.portaudio import load_sounddevice

MIC_LABEL = "You"
SYSTEM_LABEL = "Others"
PULSE_PREFIX = "pulse:"
LOOPBACK_PREFIX = "loopback:"
DEFAULT_MARK = " (default)"

_PULSE_ALSA_DEVICES = ("pulse", "default")  # ALSA devices that go through libpulse, best first
_WASAPI = "Windows WASAPI"
_WASAPI_LOOPBACK_MARK = " [Loopback]"  # how PortAudio builds with loopback support name those input devices
_MAC_LOOPBACK_DRIVERS = ("blackhole", "soundflower", "loopback audio")
# ALSA plugin devices that PortAudio lists as inputs but that are channel layouts or converters, not microphones.
_ALSA_NOT_MICS = (
    "sysdefault", "front", "rear", "center_lfe", "side", "surround", "iec958", "spdif", "hdmi", "dmix",
    "lavrate", "samplerate", "speexrate", "upmix", "vdownmix",
)  # fmt: skip
_PACTL_TIMEOUT_S = 3.0

_env_lock = threading.Lock()


def import_sounddevice() -> ModuleType:
    """The sounddevice module; a CaptureError that says what to install when it or PortAudio is missing."""
    return load_sounddevice("Audio capture", CaptureError)


@dataclass(frozen=True)
class PulseSource:
    """A source of the PulseAudio/PipeWire server, as pactl lists it."""

    name: str
    description: str
    monitor: bool  # the monitor of an output: what the computer plays


def parse_pactl_json(text: str) -> list[PulseSource]:
    """Sources from ``pactl -f json list sources`` (pactl 16 and newer)."""
    sources = []
    for entry in json.loads(text):
        name = entry["name"]
        props = entry.get("properties") or {}
        monitor = name.endswith(".monitor") or props.get("device.class") == "monitor"
        sources.append(PulseSource(name, entry.get("description") or name, monitor))
    return sources


def parse_pactl_short(text: str) -> list[PulseSource]:
    """Sources from ``pactl list short sources`` (index, name, driver, format, state; tab-separated)."""
    sources = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 2 or not fields[1]:
            continue
        name = fields[1]
        monitor = name.endswith(".monitor")
        description = f"Monitor of {name.removesuffix('.monitor')}" if monitor else name
        sources.append(PulseSource(name, description, monitor))
    return sources


def _run_pactl(pactl: str, *args: str) -> str | None:
    try:
        done = subprocess.run([pactl, *args], capture_output=True, text=True, timeout=_PACTL_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def pulse_sources() -> list[PulseSource]:
    """Sources of the PulseAudio/PipeWire server this process talks to; ``[]`` without pactl or a server."""
    pactl = shutil.which("pactl")
    if pactl is None:
        return []
    text = _run_pactl(pactl, "-f", "json", "list", "sources")
    if text is not None:
        try:
            return parse_pactl_json(text)
        except (ValueError, KeyError, TypeError):
            pass  # an older pactl whose JSON differs: the short list below still works
    text = _run_pactl(pactl, "list", "short", "sources")
    return parse_pactl_short(text) if text is not None else []


@dataclass(frozen=True)
class _Device:
    index: int
    name: str
    hostapi: str
    inputs: int
    outputs: int
    rate: int

    @property
    def full_name(self) -> str:
        return f"{self.name}, {self.hostapi}"


def _devices(sd: Any) -> list[_Device]:
    hostapis = [api["name"] for api in sd.query_hostapis()]
    return [
        _Device(
            index,
            info["name"],
            hostapis[info["hostapi"]],
            int(info["max_input_channels"]),
            int(info["max_output_channels"]),
            int(info["default_samplerate"]),
        )
        for index, info in enumerate(sd.query_devices())
    ]


def _default_input_index(sd: Any) -> int:
    try:
        return int(sd.default.device[0])
    except (TypeError, ValueError, IndexError):
        return -1


def _mic(device: _Device, is_default: bool) -> AudioSource:
    name = device.name + (DEFAULT_MARK if is_default else "")
    return AudioSource(f"mic:{device.name}", SourceKind.MICROPHONE, name, device.full_name, MIC_LABEL)


def _system(source_name: str, name: str, device: str) -> AudioSource:
    return AudioSource(f"system:{source_name}", SourceKind.SYSTEM, name, device, SYSTEM_LABEL)


def _is_mic(device: _Device, platform: str) -> bool:
    if device.inputs <= 0:
        return False
    lower = device.name.lower()
    if platform == "win32":
        return device.hostapi == _WASAPI and not device.name.endswith(_WASAPI_LOOPBACK_MARK)
    if platform == "darwin":
        return not any(driver in lower for driver in _MAC_LOOPBACK_DRIVERS)
    return not (device.hostapi == "ALSA" and lower.startswith(_ALSA_NOT_MICS))


def _windows_system(devices: list[_Device]) -> list[AudioSource]:
    wasapi = [d for d in devices if d.hostapi == _WASAPI]
    loopbacks = [d for d in wasapi if d.inputs > 0 and d.name.endswith(_WASAPI_LOOPBACK_MARK)]
    if loopbacks:
        return [_system(d.name.removesuffix(_WASAPI_LOOPBACK_MARK), d.name, d.full_name) for d in loopbacks]
    return [_system(d.name, f"{d.name} (loopback)", LOOPBACK_PREFIX + d.full_name) for d in wasapi if d.outputs > 0]


def _pulse(devices: list[_Device]) -> tuple[list[AudioSource], list[AudioSource]]:
    if not any(d.name in _PULSE_ALSA_DEVICES and d.inputs > 0 for d in devices):
        return [], []  # no ALSA pulse plugin: the sources exist but PortAudio cannot reach them
    mics, system = [], []
    for src in pulse_sources():
        if src.monitor:
            system.append(_system(src.name, src.description, PULSE_PREFIX + src.name))
        else:
            mics.append(
                AudioSource(
                    f"mic:pulse:{src.name}", SourceKind.MICROPHONE, src.description, PULSE_PREFIX + src.name, MIC_LABEL
                )
            )
    return mics, system


def list_sources(sd: ModuleType | None = None, *, platform: str | None = None) -> list[AudioSource]:
    """Every source: microphones (the default one first), then system audio. CaptureError without PortAudio."""
    sd = sd or import_sounddevice()
    platform = platform or sys.platform
    devices = _devices(sd)
    default_index = _default_input_index(sd)
    mics: list[AudioSource] = []
    seen: set[str] = set()
    for device in sorted(devices, key=lambda d: d.index != default_index):  # stable: keeps PortAudio's order
        if _is_mic(device, platform) and device.name not in seen:
            seen.add(device.name)
            mics.append(_mic(device, device.index == default_index))
    if platform == "win32":
        system = _windows_system(devices)
    elif platform == "darwin":
        system = [
            _system(d.name, d.name, d.full_name)
            for d in devices
            if d.inputs > 0 and any(driver in d.name.lower() for driver in _MAC_LOOPBACK_DRIVERS)
        ]
    else:
        pulse_mics, system = _pulse(devices)
        mics += pulse_mics
    return mics + system


def default_source(sd: ModuleType | None = None, *, platform: str | None = None) -> AudioSource | None:
    """The default microphone (or the first one); None when there is none."""
    mics = [s for s in list_sources(sd, platform=platform) if s.kind is SourceKind.MICROPHONE]
    return mics[0] if mics else None


def system_audio_help(platform: str | None = None) -> str:
    """What capturing the computer's own sound needs on this platform, for the source picker."""
    platform = platform or sys.platform
    if platform == "darwin":
        return (
            "macOS cannot record what the computer plays without a loopback audio driver. Install BlackHole "
            "(free: https://existential.audio/blackhole/ or 'brew install blackhole-2ch'), then in Audio MIDI Setup "
            "create a Multi-Output Device that plays to both your speakers and BlackHole and make it the output. "
            "'BlackHole 2ch' then appears here as system audio."
        )
    if platform == "win32":
        return (
            "System audio is recorded from an output device by WASAPI loopback. If opening it fails, this "
            "sounddevice/PortAudio build lacks loopback support: update sounddevice, or enable 'Stereo Mix' in the "
            "Sound control panel (Recording tab) and choose it as a microphone."
        )
    return (
        "System audio is recorded from the PulseAudio/PipeWire monitor of an output. That needs a running "
        "PulseAudio or PipeWire (with pipewire-pulse), the pactl tool (package pulseaudio-utils) and the ALSA pulse "
        "plugin (package libasound2-plugins or pipewire-alsa)."
    )


@dataclass(frozen=True)
class InputRoute:
    """How to open one source: the PortAudio device and what it needs besides."""

    device: int  # PortAudio device index, valid until PortAudio re-scans
    default_rate: int
    max_channels: int
    pulse_source: str | None = None  # set PULSE_SOURCE to this while opening
    loopback: bool = False  # open an output device for WASAPI loopback capture


def resolve(sd: Any, source: AudioSource) -> InputRoute:
    """Find the device behind ``source`` now; CaptureError when it is not there (unplugged, renamed)."""
    device = source.device
    devices = _devices(sd)
    if isinstance(device, int):
        found = [d for d in devices if d.index == device and d.inputs > 0]
        return _route(found, source)
    if not isinstance(device, str) or not device:
        raise CaptureError(f"{source.name}: this source names no audio device.")
    if device.startswith(PULSE_PREFIX):
        found = [d for name in _PULSE_ALSA_DEVICES for d in devices if d.name == name and d.inputs > 0]
        if not found:
            raise CaptureError(
                f"{source.name} is a PulseAudio/PipeWire source, but PortAudio has no 'pulse' device to reach it. "
                "Install the ALSA pulse plugin (libasound2-plugins or pipewire-alsa)."
            )
        return _route(found, source, pulse_source=device.removeprefix(PULSE_PREFIX))
    if device.startswith(LOOPBACK_PREFIX):
        full = device.removeprefix(LOOPBACK_PREFIX)
        return _route([d for d in devices if d.full_name == full and d.outputs > 0], source, loopback=True)
    return _route([d for d in devices if d.full_name == device and d.inputs > 0], source)


def _route(found: list[_Device], source: AudioSource, **extra: Any) -> InputRoute:
    if not found:
        raise CaptureError(f"{source.name} is not connected (no such audio device).")
    device = found[0]
    channels = device.outputs if extra.get("loopback") else device.inputs
    return InputRoute(device.index, device.rate, channels, **extra)


def open_input_stream(sd: Any, route: InputRoute, **stream_args: Any) -> Any:
    """An unstarted float32 ``sd.InputStream`` on ``route``; ``stream_args`` go to it unchanged."""
    extra_settings = None
    if route.loopback:
        try:
            extra_settings = sd.WasapiSettings(loopback=True)
        except (TypeError, AttributeError):
            raise CaptureError(
                "This sounddevice/PortAudio build cannot record system audio (no WASAPI loopback). "
                + system_audio_help("win32")
            ) from None
    if route.pulse_source is None:
        return sd.InputStream(device=route.device, dtype="float32", extra_settings=extra_settings, **stream_args)
    with _env_lock:
        previous = os.environ.get("PULSE_SOURCE")
        os.environ["PULSE_SOURCE"] = route.pulse_source
        try:
            return sd.InputStream(device=route.device, dtype="float32", **stream_args)
        finally:
            if previous is None:
                del os.environ["PULSE_SOURCE"]
            else:
                os.environ["PULSE_SOURCE"] = previous
