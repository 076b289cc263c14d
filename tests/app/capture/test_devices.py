"""Listing audio sources: the real PulseAudio monitor, and the rules of other platforms with a fake sounddevice."""

from __future__ import annotations

import json
import os
import sys

import pytest

from app.capture import devices
from app.capture.devices import (
    InputRoute,
    PulseSource,
    default_source,
    list_sources,
    open_input_stream,
    parse_pactl_json,
    parse_pactl_short,
    resolve,
    system_audio_help,
)
from app.capture.errors import CaptureError
from app.events import AudioSource, SourceKind
from tests.app.capture.fakes import FakeSounddevice, WasapiWithLoopback, device
from tests.fixtures.pulse import pulse_server  # noqa: F401  (fixture)


def test_pulse_monitor_is_listed_as_system_audio(pulse_server):  # noqa: F811
    sources = list_sources()
    by_id = {s.id: s for s in sources}
    monitor = by_id[f"system:{pulse_server.monitor}"]
    assert monitor == AudioSource(
        "system:vsink.monitor", SourceKind.SYSTEM, "Monitor of VirtualSink", "pulse:vsink.monitor", "Others"
    )
    assert list_sources() == sources  # ids and order are stable
    mics = [s for s in sources if s.kind is SourceKind.MICROPHONE]
    assert mics and all(s.label == "You" and s.id.startswith("mic:") for s in mics)
    assert len({s.id for s in sources}) == len(sources)
    assert default_source() == mics[0]
    assert mics[0].name.endswith("(default)")
    assert resolve(sys.modules["sounddevice"], monitor).pulse_source == "vsink.monitor"


def test_pactl_outputs_parse_alike(pulse_server):  # noqa: F811
    expected = PulseSource("vsink.monitor", "Monitor of VirtualSink", True)
    assert expected in parse_pactl_json(pulse_server.pactl("-f", "json", "list", "sources"))
    short = parse_pactl_short(pulse_server.pactl("list", "short", "sources"))
    assert PulseSource("vsink.monitor", "Monitor of vsink", True) in short


def test_pactl_short_parser_tells_monitors_from_inputs():
    text = "0\tvsink.monitor\tmodule-null-sink.c\ts16le 2ch 44100Hz\tIDLE\n3\talsa_input.usb-mic\tx\ty\tRUNNING\n\n"
    assert parse_pactl_short(text) == [
        PulseSource("vsink.monitor", "Monitor of vsink", True),
        PulseSource("alsa_input.usb-mic", "alsa_input.usb-mic", False),
    ]
    entry = {"name": "out", "description": "Speakers", "properties": {"device.class": "monitor"}}
    assert parse_pactl_json(json.dumps([entry])) == [PulseSource("out", "Speakers", True)]


class _NoPortAudio:
    """An import hook that fails to load sounddevice the way it fails without libportaudio2."""

    def find_spec(self, name, path=None, target=None):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return None


def test_missing_portaudio_says_what_to_install(monkeypatch):
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoPortAudio(), *sys.meta_path])
    with pytest.raises(CaptureError, match="libportaudio2") as caught:
        list_sources()
    assert "PortAudio library not found" in str(caught.value)


def _linux_sd() -> FakeSounddevice:
    return FakeSounddevice(
        devices=[
            device("HDA Intel PCH: ALC3246 Analog (hw:0,0)", 0),
            device("sysdefault", 0),
            device("front", 0),
            device("surround40", 0),
            device("HDA Intel PCH: HDMI 0 (hw:0,3)", 0, inputs=0, outputs=8),
            device("pulse", 0, inputs=32, outputs=32, rate=44100),
            device("default", 0, inputs=32, outputs=32, rate=44100),
        ],
        default_input=6,
    )


def test_linux_lists_microphones_and_pulse_sources(monkeypatch):
    pulse = [
        PulseSource("alsa_input.usb", "USB Mic", False),
        PulseSource("speakers.monitor", "Monitor of Speakers", True),
    ]
    monkeypatch.setattr(devices, "pulse_sources", lambda: pulse)
    sources = list_sources(_linux_sd(), platform="linux")
    assert [(s.id, s.name, s.device) for s in sources] == [
        ("mic:default", "default (default)", "default, ALSA"),
        ("mic:HDA Intel PCH: ALC3246 Analog (hw:0,0)", "HDA Intel PCH: ALC3246 Analog (hw:0,0)",
         "HDA Intel PCH: ALC3246 Analog (hw:0,0), ALSA"),
        ("mic:pulse", "pulse", "pulse, ALSA"),
        ("mic:pulse:alsa_input.usb", "USB Mic", "pulse:alsa_input.usb"),
        ("system:speakers.monitor", "Monitor of Speakers", "pulse:speakers.monitor"),
    ]  # fmt: skip
    assert [s.label for s in sources] == ["You"] * 4 + ["Others"]


def test_linux_without_the_alsa_pulse_plugin_offers_no_pulse_sources(monkeypatch):
    monkeypatch.setattr(devices, "pulse_sources", lambda: [PulseSource("speakers.monitor", "Speakers", True)])
    sd = FakeSounddevice(devices=[device("HDA Intel PCH: ALC3246 Analog (hw:0,0)", 0)])
    assert [s.kind for s in list_sources(sd, platform="linux")] == [SourceKind.MICROPHONE]
    pulse_source = AudioSource("system:speakers.monitor", SourceKind.SYSTEM, "Speakers", "pulse:speakers.monitor")
    with pytest.raises(CaptureError, match="libasound2-plugins"):
        resolve(sd, pulse_source)
    assert "pulseaudio-utils" in system_audio_help("linux")


def _windows_sd(*, with_loopback_devices: bool) -> FakeSounddevice:
    devs = [
        device("Microphone (USB Audio)", 0),  # MME truncates names and repeats every device
        device("Speakers (Realtek(R) Audio)", 0, inputs=0, outputs=2),
        device("Microphone (USB Audio)", 1),
        device("Headset Microphone (Jabra)", 1),
        device("Speakers (Realtek(R) Audio)", 1, inputs=0, outputs=2),
    ]
    if with_loopback_devices:
        devs.append(device("Speakers (Realtek(R) Audio) [Loopback]", 1, inputs=2))
    return FakeSounddevice(devices=devs, hostapis=["MME", "Windows WASAPI"], default_input=3)


def test_windows_lists_wasapi_devices_once_and_loopback_as_system_audio():
    sources = list_sources(_windows_sd(with_loopback_devices=True), platform="win32")
    assert [(s.id, s.kind, s.device) for s in sources] == [
        ("mic:Headset Microphone (Jabra)", SourceKind.MICROPHONE, "Headset Microphone (Jabra), Windows WASAPI"),
        ("mic:Microphone (USB Audio)", SourceKind.MICROPHONE, "Microphone (USB Audio), Windows WASAPI"),
        ("system:Speakers (Realtek(R) Audio)", SourceKind.SYSTEM,
         "Speakers (Realtek(R) Audio) [Loopback], Windows WASAPI"),
    ]  # fmt: skip
    assert sources[0].name == "Headset Microphone (Jabra) (default)"


def test_windows_output_loopback_needs_a_build_that_supports_it():
    sd = _windows_sd(with_loopback_devices=False)
    system = [s for s in list_sources(sd, platform="win32") if s.kind is SourceKind.SYSTEM]
    assert [(s.id, s.device) for s in system] == [
        ("system:Speakers (Realtek(R) Audio)", "loopback:Speakers (Realtek(R) Audio), Windows WASAPI")
    ]
    route = resolve(sd, system[0])
    assert route == InputRoute(device=4, default_rate=48000, max_channels=2, loopback=True)
    with pytest.raises(CaptureError, match="Stereo Mix"):
        open_input_stream(sd, route, samplerate=48000, channels=2)
    sd.wasapi_settings = WasapiWithLoopback
    stream = open_input_stream(sd, route, samplerate=48000, channels=2)
    assert stream.kwargs["device"] == 4 and stream.kwargs["extra_settings"].loopback


def test_macos_offers_loopback_drivers_as_system_audio_and_explains_the_rest():
    sd = FakeSounddevice(
        devices=[device("MacBook Pro Microphone", 0, inputs=1), device("BlackHole 2ch", 0, inputs=2, outputs=2)],
        hostapis=["Core Audio"],
    )
    sources = list_sources(sd, platform="darwin")
    assert [(s.id, s.kind, s.label) for s in sources] == [
        ("mic:MacBook Pro Microphone", SourceKind.MICROPHONE, "You"),
        ("system:BlackHole 2ch", SourceKind.SYSTEM, "Others"),
    ]
    sd.devices.pop()
    assert all(s.kind is SourceKind.MICROPHONE for s in list_sources(sd, platform="darwin"))
    assert "BlackHole" in system_audio_help("darwin")


def test_a_vanished_device_cannot_be_resolved():
    sd = _linux_sd()
    gone = AudioSource("mic:USB Mic", SourceKind.MICROPHONE, "USB Mic", "USB Mic, ALSA")
    with pytest.raises(CaptureError, match="USB Mic is not connected"):
        resolve(sd, gone)


def test_pulse_source_is_chosen_by_environment_only_while_opening(monkeypatch):
    monkeypatch.setenv("PULSE_SOURCE", "what the user set")
    sd = _linux_sd()
    route = resolve(sd, AudioSource("system:a.monitor", SourceKind.SYSTEM, "A", "pulse:a.monitor"))
    assert route.device == 5  # the ALSA "pulse" device, preferred over "default"
    stream = open_input_stream(sd, route, samplerate=44100, channels=1)
    assert stream.pulse_source == "a.monitor"
    assert os.environ["PULSE_SOURCE"] == "what the user set"
