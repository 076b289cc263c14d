"""Ready-made questions for the chat panel, and the model's limits as the UI states them."""

from __future__ import annotations

from model.voxtral.prompt import SUPPORTED_LANGUAGES

_NAMES = {"en": "English", "es": "Spanish", "fr": "French", "pt": "Portuguese", "hi": "Hindi", "de": "German",
          "nl": "Dutch", "it": "Italian"}
LANGUAGE_NAMES: dict[str, str] = {code: _NAMES[code] for code in SUPPORTED_LANGUAGES}

ACTIONS: tuple[tuple[str, str], ...] = (
    ("summarise", "Summarise"),
    ("decisions", "Decisions and action items"),
    ("translate", "Answer in…"),
)

_QUESTIONS = {
    "summarise": "Summarise this recording: the topics discussed, what was said about each and the outcome. "
                 "Cite the moment of each point.",
    "decisions": "List the decisions that were made and the action items (who does what, and by when if it was "
                 "said). Cite the moment each was said. If there were none, say so.",
    "translate": "Summarise this recording in {language}. Write the whole answer in {language}, and cite the "
                 "moment of each point.",
}


def action_question(action_id: str, language: str | None = None) -> str:
    """The question a ready-made action asks; "translate" needs ``language``, a code of LANGUAGE_NAMES."""
    if action_id not in _QUESTIONS:
        raise ValueError(f"Unknown action {action_id!r}.")
    if action_id != "translate":
        return _QUESTIONS[action_id]
    if language not in LANGUAGE_NAMES:
        raise ValueError(f"Voxtral Mini 3B answers in {', '.join(LANGUAGE_NAMES.values())}, not {language!r}.")
    return _QUESTIONS[action_id].format(language=LANGUAGE_NAMES[language])


def limits_text(max_audio_s: float | None, server: str | None = None) -> str:
    """What the model can and cannot do, in words; ``max_audio_s`` None while the model is not loaded; ``server``:
    the address of the vLLM server that answers (None: this computer)."""
    names = list(LANGUAGE_NAMES.values())
    text = (f"Voxtral Mini 3B is documented for {len(names)} languages: {', '.join(names[:-1])} and {names[-1]}; "
            "in other languages its answers are unreliable. ")
    context = "the server's context" if server else "its context holds 32k tokens"
    if max_audio_s:
        text += (f"It takes about {max_audio_s / 60:.0f} minutes of audio at once ({context}, shared with the "
                 "transcript, the question and the answer); ")
    elif server:
        text += "It takes as much audio at once as the server's context holds (about 40 minutes in 32k tokens); "
    else:
        text += "It takes about 40 minutes of audio at once (a 32k-token context); "
    where = f"come from the server at {server}" if server else "run on this computer"
    text += ("longer recordings are split into parts that are asked one by one and the answers combined, which can "
             f"miss links between the parts. Answers {where} and can be wrong: check them against the recording.")
    return text
