import os

# Session fixtures every test may use: real vLLM servers (started on first use).
pytest_plugins = ["tests.fixtures.vllm_server"]

# Tests never reach a model hub; the hub tests point huggingface_hub at a local server themselves.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
