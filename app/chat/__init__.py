"""Chat about recordings: questions about clips of saved sessions, answered by Voxtral Mini 3B on this machine or on a
vLLM server.

Plain Python except ``worker`` and ``controller`` (Qt). ``model`` holds the conversation types, ``clips`` cuts audio
and transcript out of a session, ``prompting`` turns a conversation into the model's format, ``long_audio`` splits
recordings longer than the model takes at once, ``store`` saves conversations with their session. ``backend`` says
what the chat needs of where the model runs: ``model_manager`` (this computer; live captions keep priority on the
GPU) or ``server_models`` (a vLLM server; nothing loaded here).
"""
