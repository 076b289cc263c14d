"""model.device, the one place that knows accelerators: its CPU path (the only one these machines have) and the
errors for devices that are not there."""

from __future__ import annotations

import pytest
import torch

from model import ModelError
from model import device as devices
from model.loading import pick_device

pytestmark = pytest.mark.skipif(devices.is_accelerator(devices.best()), reason="this machine has an accelerator")


def test_the_cpu_is_picked_without_an_accelerator() -> None:
    assert devices.best() == torch.device("cpu")
    assert pick_device(None, None) == (torch.device("cpu"), torch.float32)
    assert not devices.supports_bf16(torch.device("cpu"))  # bf16 arithmetic is slow on most CPUs: fp32 there


def test_the_cpu_needs_no_synchronisation_and_reports_no_device_memory() -> None:
    cpu = torch.device("cpu")
    devices.synchronize(cpu)
    devices.empty_cache(cpu)
    devices.empty_cache("cuda")  # nothing to empty where there is no CUDA: no error
    assert devices.allocated_bytes(cpu) == 0
    assert devices.free_bytes() is None and devices.free_bytes("mps") is None
    assert devices.name(cpu) == "CPU"
    assert torch.cuda.OutOfMemoryError in devices.out_of_memory_errors()


@pytest.mark.parametrize(("asked", "message"), [
    ("cuda", "no usable CUDA GPU; use device='cpu'"),
    ("mps", r"Apple GPU \(mps\) was asked for, but PyTorch sees none here; use device='cpu'"),
    ("meta", "not a device this program runs on"),
    ("gpu please", "not a device name; use 'cpu', 'cuda', 'cuda:N' or 'mps'"),
])
def test_a_device_that_is_not_there_is_a_clear_error(asked, message) -> None:
    with pytest.raises(ModelError, match=message):
        pick_device(asked, None)


def test_the_app_offers_the_apple_gpu_only_where_there_is_one() -> None:
    from app.chat.model_manager import gpu_kind
    from app.setup.device_info import describe_device
    from app.ui.settings_dialog import device_choices

    assert gpu_kind() == "cuda"  # the GPU side of the chat model's policy; free memory says None here
    assert ("Apple GPU (MPS)", "mps") in device_choices([], "", mps=True)
    assert "mps" not in {value for _, value in device_choices([], "")}
    assert describe_device("mps").kind == "cpu"
