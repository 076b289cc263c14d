"""``captionist transcribe|stream --server URL`` against real vLLM servers (tests/fixtures/vllm_server.py): the text
printed is what an independent client gets from the same server for the same audio, in the same formats and with
the same exit codes as with a local model; faults are one line each."""

from __future__ import annotations

import json
import re
import threading

import pytest
import soundfile

from app.cli import EXIT_MODEL, EXIT_OK, EXIT_USAGE, VOXTRAL_TOKENS_PER_S, main
from app.events import MODEL_RATE
from tests.fixtures.speech import espeak_speech
from tests.fixtures.tcp_proxy import TcpProxy
from tests.fixtures.vllm_clients import realtime_text, transcription_text
from tests.fixtures.vllm_server import free_port


@pytest.fixture(scope="module")
def speech_file(tmp_path_factory):
    """Speech as a 16 kHz PCM16 WAV (so what is sent is the file's own samples) and its PCM bytes."""
    audio, rate = espeak_speech("Captions should keep up with every word said in the meeting.")
    assert rate == MODEL_RATE
    path = tmp_path_factory.mktemp("cli-server") / "meeting.wav"
    soundfile.write(path, audio, rate, subtype="PCM_16")
    pcm = soundfile.read(path, dtype="int16")[0].astype("<i2").tobytes()
    return path, pcm


@pytest.fixture
def key_file(tmp_path, vllm_realtime):
    path = tmp_path / "key"
    path.write_text(vllm_realtime.api_key + "\n")
    return str(path)


def server_args(server, key_file: str) -> list[str]:
    return ["--server", server.base_url, "--api-key-file", key_file]


def test_stream_prints_what_the_realtime_server_says(vllm_realtime, speech_file, key_file, capsys) -> None:
    path, pcm = speech_file
    reference = realtime_text(vllm_realtime, pcm)
    assert len(set(reference)) > 3
    for pace in (["--fast"], []):  # as fast as the server decodes, and as a live source in real time
        assert main(["stream", str(path), *server_args(vllm_realtime, key_file), *pace]) == EXIT_OK
        out = capsys.readouterr()
        assert out.out == reference + "\n", pace
        assert "warning" not in out.err  # a loopback address: nothing to warn about


def test_transcribe_gives_the_servers_words_with_their_times(vllm_realtime, speech_file, key_file, capsys) -> None:
    path, pcm = speech_file
    reference = realtime_text(vllm_realtime, pcm)
    assert main(["transcribe", str(path), "--format", "json", *server_args(vllm_realtime, key_file)]) == EXIT_OK
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"] == vllm_realtime.model and doc["timing"] == "tokens"
    # Subtitle cues cut words longer than a line (random weights say such words), so compare the text itself.
    assert "".join(w["text"] for s in doc["segments"] for w in s["words"]) == "".join(reference.split())
    tokens = [t for s in doc["segments"] for t in s["tokens"]]
    assert tokens and all(t["id"] is None for t in tokens)  # the server sends text, not token ids
    steps = [round(t["start"] / 0.08, 6) for t in tokens]
    assert all(s == int(s) for s in steps) and steps == sorted(steps)  # on the 80 ms grid, in order

    assert main(["transcribe", str(path), *server_args(vllm_realtime, key_file)]) == EXIT_OK
    assert re.sub(r"^\[\d\d:\d\d:\d\d\] ", "", capsys.readouterr().out, flags=re.M).split() == reference.split()


def test_transcribe_with_voxtral_through_the_transcriptions_endpoint(vllm_voxtral, speech_file, tmp_path,
                                                                     capsys) -> None:
    path, _ = speech_file
    key = tmp_path / "key"
    key.write_text(vllm_voxtral.api_key)
    limit = int(soundfile.info(str(path)).duration * VOXTRAL_TOKENS_PER_S) + 64  # the command's bound, as locally
    reference = transcription_text(vllm_voxtral, path.read_bytes(), "en", max_tokens=limit)
    args = ["transcribe", str(path), "--language", "en", "--format", "json", *server_args(vllm_voxtral, str(key))]
    assert main(args) == EXIT_OK
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"] == vllm_voxtral.model and doc["timing"] == "estimated"
    # Subtitle cues cut words longer than a line (random weights say such words), so compare the text itself.
    assert "".join(w["text"] for s in doc["segments"] for w in s["words"]) == "".join(reference.split())
    assert main(["stream", str(path), *server_args(vllm_voxtral, str(key))]) == EXIT_USAGE
    assert "not a realtime model" in capsys.readouterr().err


def test_server_faults_are_one_line_each(vllm_realtime, speech_file, key_file, tmp_path, capsys) -> None:
    path, _ = speech_file
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-key")
    for args, status, said in [
        (["--server", vllm_realtime.base_url, "--api-key-file", str(wrong)], EXIT_MODEL, "refused the API key"),
        (["--server", vllm_realtime.base_url], EXIT_MODEL, "wants an API key"),
        ([*server_args(vllm_realtime, key_file), "--model", "no-such-model"], EXIT_MODEL,
         "does not serve the model “no-such-model”. It serves: tiny-realtime"),
        (["--server", f"http://127.0.0.1:{free_port()}"], EXIT_MODEL, "cannot be reached"),
        ([*server_args(vllm_realtime, key_file), "--delay-ms", "480"], EXIT_USAGE, "the server fixes the delay"),
        ([*server_args(vllm_realtime, key_file), "--device", "cpu"], EXIT_USAGE, "--device is for a model"),
        ([*server_args(vllm_realtime, key_file), "--precision", "int8"], EXIT_USAGE, "--precision is for a model"),
        (["--server", vllm_realtime.base_url, "--api-key-file", str(tmp_path / "none")], EXIT_USAGE,
         "--api-key-file"),
        (["--server", "ws://127.0.0.1:8000"], EXIT_USAGE, "use http:// or https://"),
    ]:
        for command in ("transcribe", "stream"):
            assert main([command, str(path), *args]) == status, (command, args)
            err = capsys.readouterr().err
            assert said in err and "Traceback" not in err, (command, err)
            assert len(err.strip().splitlines()) == 1, err
            if "API key" in said:
                assert "--api-key-file" in err
    with pytest.raises(SystemExit):
        main(["transcribe", str(path), "--api-key-file", key_file])  # a key for no server is a usage error


def test_a_connection_cut_mid_file_fails_the_file_instead_of_skipping_audio(vllm_realtime, speech_file, key_file,
                                                                            capsys) -> None:
    path, _ = speech_file
    with TcpProxy("127.0.0.1", vllm_realtime.port) as proxy:
        proxy.throttle(4000)  # slow enough that the cut comes mid-file
        threading.Timer(3.0, proxy.cut).start()
        status = main(["transcribe", str(path), "--server", f"http://127.0.0.1:{proxy.port}", "--api-key-file",
                       key_file])
    err = capsys.readouterr().err
    assert status == EXIT_MODEL, err
    assert "the server failed: it stopped transcribing" in err and "Traceback" not in err
