"""Every export format: golden files from a fixed two-source conversation, and round trips through independent
parsers (``srt``, ``webvtt-py``, ``json``).

Regenerate the golden files after an intended change with ``CAPTIONIST_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import pytest
import srt
import webvtt

from app.export import EXTENSIONS, FORMATS, export, paragraphs, segment, timed_words, write_export
from app.export.segments import MAX_LINE_CHARS
from tests.app.export.events import STEP, speak

GOLDEN = Path(__file__).parent / "golden"
LABELS = {"mic": "You", "system": "Others"}
DATE = "2025-03-14 10:00"
MODEL = "mistralai/Voxtral-Mini-4B-Realtime-2602"


def _tokens(text: str) -> list[str]:
    """Realtime-like tokens: words with their leading space, punctuation on its own."""
    return re.findall(r" ?[^\s.,?!]+|[.,?!]", text)


EVENTS = (
    speak("system", 5, _tokens(" Good morning everyone, thanks for joining the weekly sync."), first_id=2000)
    + speak("mic", 30, _tokens(" Morning!"), first_id=3000)
    + speak("system", 40, _tokens(" First item: the Q3 budget & the <draft> plan for café_opening *soon*."),
            steps_per_token=3, first_id=4000)
    + speak("system", 110, _tokens(" Any questions?"), first_id=5000)
    + speak("mic", 112, _tokens(" Yes, one about the timeline for the new office in Zürich, is it still June?"),
            first_id=6000, final=True)
    + speak("system", 160, _tokens(" Yes."), first_id=7000, final=True)
)


def render(fmt: str, **options) -> str:
    return export(EVENTS, fmt, labels=LABELS, date=DATE, model=MODEL, **options)


@pytest.mark.parametrize("fmt", FORMATS)
def test_golden(fmt: str) -> None:
    path = GOLDEN / f"meeting{EXTENSIONS[fmt]}"
    text = render(fmt)
    if os.environ.get("CAPTIONIST_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8", newline="")
    assert text == path.read_text(encoding="utf-8")


def test_golden_txt_without_timestamps_or_labels() -> None:
    path = GOLDEN / "meeting-plain.txt"
    text = render("txt", timestamps=False, show_labels=False)
    if os.environ.get("CAPTIONIST_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8", newline="")
    assert text == path.read_text(encoding="utf-8")


def test_srt_round_trips_through_the_srt_parser() -> None:
    cues = segment(timed_words(EVENTS), labels=LABELS, label_prefix=True)
    parsed = list(srt.parse(render("srt")))
    assert len(parsed) == len(cues) > 4
    for number, (sub, cue) in enumerate(zip(parsed, cues, strict=True), start=1):
        assert sub.index == number
        assert sub.start.total_seconds() == pytest.approx(cue.start_s, abs=1e-6)
        assert sub.end.total_seconds() == pytest.approx(cue.end_s, abs=1e-6)
        assert sub.content == f"{cue.label}: " + "\n".join(cue.lines)
        assert all(len(line) <= MAX_LINE_CHARS for line in sub.content.split("\n"))
    assert all(a.end <= b.start for a, b in zip(parsed, parsed[1:], strict=False))  # no overlaps
    assert srt.compose(parsed, reindex=False) == render("srt")  # the parser reads it as written


def test_vtt_round_trips_through_webvtt_py() -> None:
    cues = segment(timed_words(EVENTS), labels=LABELS)
    captions = webvtt.from_string(render("vtt")).captions
    assert len(captions) == len(cues) > 4
    for caption, cue in zip(captions, cues, strict=True):
        assert caption.start_in_seconds + caption.start_time.milliseconds / 1000 == pytest.approx(cue.start_s)
        assert caption.end_in_seconds + caption.end_time.milliseconds / 1000 == pytest.approx(cue.end_s)
        assert caption.voice == cue.label
        assert html.unescape(caption.text) == "\n".join(cue.lines)  # the voice tag is removed, entities kept
    assert any("&amp;" in c.text and "&lt;draft&gt;" in c.text for c in captions)


def test_vtt_without_labels_has_no_voice_spans() -> None:
    text = render("vtt", show_labels=False)
    assert text.startswith("WEBVTT\n\n") and "<v " not in text
    captions = webvtt.from_string(text).captions
    assert [html.unescape(c.text) for c in captions] == ["\n".join(c.lines) for c in segment(timed_words(EVENTS))]


def test_json_follows_its_schema() -> None:
    doc = json.loads(render("json"))
    assert set(doc) == {"format", "version", "model", "timing", "sources", "segments"}
    assert (doc["format"], doc["version"], doc["model"], doc["timing"]) == ("captionist-transcript", 1, MODEL, "tokens")
    assert doc["sources"] == [{"id": "system", "label": "Others"}, {"id": "mic", "label": "You"}]
    cues = segment(timed_words(EVENTS), labels=LABELS)
    assert len(doc["segments"]) == len(cues)
    previous_start = 0.0
    for seg, cue in zip(doc["segments"], cues, strict=True):
        assert set(seg) == {"start", "end", "source", "label", "text", "words", "tokens"}
        assert (seg["source"], seg["label"], seg["text"]) == (cue.source_id, cue.label, cue.text)
        assert seg["text"] == " ".join(w["text"] for w in seg["words"])
        assert seg["start"] == seg["words"][0]["start"] and seg["end"] == seg["words"][-1]["end"]
        assert seg["start"] >= previous_start
        previous_start = seg["start"]
        assert "".join(t["text"] for t in seg["tokens"]).split() == seg["text"].split()
        for item in seg["words"] + seg["tokens"]:
            assert item["start"] < item["end"]
            for t in (item["start"], item["end"]):  # on the 80 ms grid, in milliseconds
                assert t == round(t, 3) and abs(t / STEP - round(t / STEP)) < 1e-6
        for token in seg["tokens"]:
            assert isinstance(token["id"], int) and token["text"]


def test_json_says_when_times_are_estimated() -> None:
    from app.events import CaptionEvent

    events = [CaptionEvent("talk.wav", "Hello there.", (), 0.0, 1.5), CaptionEvent("talk.wav", " Bye.", (), 1.5, 2.0)]
    doc = json.loads(export(events, "json", model="voxtral"))
    assert doc["timing"] == "estimated"
    assert [w["text"] for s in doc["segments"] for w in s["words"]] == ["Hello", "there.", "Bye."]
    assert all(s["tokens"] == [] for s in doc["segments"])


def test_txt_options() -> None:
    turns = paragraphs(timed_words(EVENTS), labels=LABELS)
    plain = render("txt", timestamps=False, show_labels=False).splitlines()
    assert plain == [p.text for p in turns]
    stamped = render("txt", timestamps=True, show_labels=False).splitlines()
    assert all(re.fullmatch(r"\[\d\d:\d\d:\d\d\] .+", line) for line in stamped)
    labelled = render("txt", timestamps=False, show_labels=True).splitlines()
    assert labelled == [f"{p.label}: {p.text}" for p in turns]
    assert render("txt") == render("txt", timestamps=True, show_labels=True)  # two sources: labels by default


def test_one_source_is_not_labelled_by_default() -> None:
    mic_only = [e for e in EVENTS if e.source_id == "mic"]
    assert "You" not in export(mic_only, "srt", labels=LABELS)
    assert "<v " not in export(mic_only, "vtt", labels=LABELS)


def test_markdown_escapes_formatting_characters() -> None:
    text = render("md")
    assert r"\<draft\>" in text and r"café\_opening" in text and r"\*soon\*" in text
    assert text.startswith(f"# Transcript\n\n*{DATE}*\n\n**Sources:** Others (system), You (mic)\n\n")


def test_empty_transcripts_are_valid() -> None:
    assert export([], "srt") == ""
    assert webvtt.from_string(export([], "vtt")).captions == []
    assert json.loads(export([], "json"))["segments"] == []


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        export(EVENTS, "docx")


def test_write_export_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "out" / "meeting.srt"
    write_export(target, "first\n")
    write_export(target, render("srt"))
    assert target.read_text(encoding="utf-8") == render("srt")
    with pytest.raises(UnicodeEncodeError):
        write_export(target, "broken \ud800 text")  # fails halfway: the old file stays, no temporary file is left
    assert target.read_text(encoding="utf-8") == render("srt")
    assert [p.name for p in target.parent.iterdir()] == ["meeting.srt"]


def test_write_export_makes_the_file_as_the_users_umask_says(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        path = write_export(tmp_path / "shared.txt", "text\n")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640


def test_write_export_never_writes_through_a_link_planted_at_its_temporary_name(tmp_path: Path,
                                                                              monkeypatch) -> None:
    import secrets

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (tmp_path / ".captionist-planted.tmp").symlink_to(victim)
    monkeypatch.setattr(secrets, "token_hex", lambda _n: "planted")  # the name an attacker guessed
    with pytest.raises(FileExistsError):
        write_export(tmp_path / "meeting.srt", render("srt"))
    assert victim.read_text() == "keep me\n" and not (tmp_path / "meeting.srt").exists()
    assert (tmp_path / ".captionist-planted.tmp").is_symlink()
