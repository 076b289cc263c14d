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


def limits_text(max_audio_s: float | None) -> str:
    """What the model can and cannot do, in words; ``max_audio_s`` None while the model is not loaded."""
    names = list(LANGUAGE_NAMES.values())
    text = (f"Voxtral Mini 3B is documented for {len(names)} languages: {', '.join(names[:-1])} and {names[-1]}; "
            "in other languages its answers are unreliable. ")
    if max_audio_s:
        text += (f"It takes about {max_audio_s / 60:.0f} minutes of audio at once (its context holds 32k tokens, "
                 "shared with the transcript, the question and the answer); ")
    else:
        text += "It takes about 40 minutes of audio at once (a 32k-token context); "
    text += ("longer recordings are split into parts that are asked one by one and the answers combined, which can "
             "miss links between the parts. Answers run on this computer and can be wrong: check them against the "
             "recording.")
    return text
