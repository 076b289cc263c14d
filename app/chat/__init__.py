"""Chat about recordings: questions about clips of saved sessions, answered on this machine by Voxtral Mini 3B.

Plain Python except ``worker`` and ``controller`` (Qt). ``model`` holds the conversation types, ``clips`` cuts audio
and transcript out of a session, ``prompting`` turns a conversation into the model's format, ``long_audio`` splits
recordings longer than the model takes at once, ``store`` saves conversations with their session and
``model_manager`` decides where the chat model lives (live captions keep priority on the GPU).
"""
