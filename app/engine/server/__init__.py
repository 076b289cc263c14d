"""Engines on a vLLM server: its address and errors (address.py), one client per protocol, and the engines built on
them, beside the local engine."""
