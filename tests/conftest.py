import os

# Session fixtures every test may use: real vLLM servers (started on first use).
pytest_plugins = ["tests.fixtures.vllm_server"]

# Tests never reach a model hub; the hub tests point huggingface_hub at a local server themselves.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _private_config_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings of the person running the tests (their saved model, say) never reach the program under test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
