"""The benchmark tools run end to end on the tiny size (their numbers are printed, never asserted as timings): the
prepared GPU checks in their CPU dry run, and the int8 accuracy table."""

from __future__ import annotations

import json

import pytest

from model.precision import fbgemm_available

pytestmark = pytest.mark.skipif(not fbgemm_available(), reason="fbgemm (x86 CPUs) holds the fp16 and int8 kernels")


def test_the_gpu_checks_dry_run_on_the_cpu(tmp_path) -> None:
    from model.bench.gpu_checks import main

    main(["--device", "cpu", "--config", "tiny", "--seconds", "1", "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "parity.json").read_text())
    assert {(r["checkpoint"], r["precision"]) for r in rows} == {
        (name, p) for name in ("gqa2", "mqa_small_windows") for p in ("fp16", "int8")}
    for row in rows:
        assert row["same_length"]  # one token per 80 ms whatever the weights
        if row["precision"] == "fp16":  # lossless on a bf16 checkpoint
            assert row["token_agreement"] == 1.0 and row["logit_error"] < 1e-5
    stream = json.loads((tmp_path / "stream-tiny.json").read_text())
    assert set(stream["results"]) == {"ours", "ours-int8"} and stream["bandwidth"] > 0
    assert stream["results"]["ours"]["precision"] == "fp16"
    assert stream["results"]["ours-int8"]["step_bytes"] < stream["results"]["ours"]["step_bytes"]


def test_the_int8_table_names_every_layer_type(capsys) -> None:
    from model.bench.int8 import GROUPS, main

    main(["--config", "tiny", "--seconds", "2"])
    out = capsys.readouterr().out
    for group in [*GROUPS, "all (precision='int8')"]:
        assert group in out
    assert "greedy transcription tokens equal to full precision" in out
