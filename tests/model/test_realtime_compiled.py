"""The compiled live step (torch.compile on CPU here) decodes exactly what the eager path decodes."""

import numpy as np
import pytest
import torch

from model import ModelError, load_realtime
from tests.model.test_realtime_streaming import assert_same_as_offline, random_sizes, stream_blocks


@pytest.fixture(scope="module")
def compiled_models(tiny_factory):
    models = {}
    for name in ("gqa2", "mqa_small_windows"):
        model = load_realtime(tiny_factory(name).native_dir, device="cpu")
        assert model.compile() > 0
        models[name] = model
    return models


@pytest.mark.parametrize("name", ["gqa2", "mqa_small_windows"])
def test_compiled_stream_equals_offline(compiled_models, tiny_factory, speech, name) -> None:
    model = compiled_models[name]
    audio = np.tile(speech, 2)  # long enough for both rings to wrap
    offline = tiny_factory(name).model.transcribe(audio, 16000)  # eager model, same weights
    session, _ = stream_blocks(model, audio, random_sizes(5, 200, 5000))
    assert_same_as_offline(session, offline)
    steady, _ = stream_blocks(model, audio, iter(lambda: 1280, None))  # one position per block: compiled steps
    assert_same_as_offline(steady, offline)


def test_no_recompilation_across_sessions_and_delays(compiled_models, speech) -> None:
    from torch._dynamo.utils import counters

    model = compiled_models["gqa2"]
    stream_blocks(model, speech, iter(lambda: 1280, None))
    graphs = counters["stats"]["unique_graphs"]
    for delay in (160, 960):
        stream_blocks(model, speech, iter(lambda: 640, None), delay_ms=delay)
    assert counters["stats"]["unique_graphs"] == graphs


def test_batched_offline_stays_eager_and_equal(compiled_models, tiny_factory, speech) -> None:
    model = compiled_models["gqa2"]
    audios = [speech, speech[: len(speech) // 2]]
    eager = tiny_factory("gqa2").model
    assert [r.token_ids for r in model.transcribe(audios, 16000)] == [
        r.token_ids for r in eager.transcribe(audios, 16000)
    ]


def test_failed_compilation_falls_back_to_eager(tiny, speech, monkeypatch) -> None:
    model = load_realtime(tiny.native_dir, device="cpu")

    def broken_compile(fn, **_):
        def run(*args, **kwargs):
            raise RuntimeError("no C++ compiler found")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    with pytest.raises(ModelError, match="no C\\+\\+ compiler found.*runs uncompiled"):
        model.compile()
    assert model.net.compiled_position is None and model.net.decoder.compiled is None
    session, _ = stream_blocks(model, speech, iter(lambda: 1280, None))
    assert_same_as_offline(session, tiny.model.transcribe(speech, 16000))
