import os

# Tests never reach a model hub; the hub tests point huggingface_hub at a local server themselves.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
