"""The ``captionist`` command. Headless subcommands work without a display and never import Qt.

    captionist [--model SOURCE] [--play FILE]        the caption window (and overlay)
    captionist transcribe FILE... [--format FMT]     whole files to transcripts (txt, srt, vtt, json, md)
    captionist stream FILE --model SOURCE            a file played as a live source, captions as they arrive
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from app.events import CaptionEvent

DEFAULT_MODEL = "mistralai/Voxtral-Mini-4B-Realtime-2602"
DEFAULT_DELAY_MS = 480
EXIT_OK, EXIT_USAGE, EXIT_INPUT, EXIT_MODEL, EXIT_INTERRUPTED = 0, 2, 3, 4, 130
FORMATS = ("txt", "srt", "vtt", "json", "md")  # app.export.FORMATS, repeated so that --help imports nothing
FEED_SECONDS = 2.0  # audio handed to the realtime stream at a time: the progress bar moves this often
VOXTRAL_PIECE_S = 300.0  # Voxtral transcribes a long file in parts this long (progress, and room in the context)
VOXTRAL_TOKENS_PER_S = 15  # generous bound on transcript tokens per second of speech: stops a model that loops
SENTENCE_BREAK = re.compile(r"(?<=[.!?…。！？])(?=\s)")

TRANSCRIBE_EPILOG = """\
output:
  One FILE: the transcript goes to stdout, or to -o PATH (into PATH when it is a folder).
  Several FILEs: -o names a folder (created when missing) that gets one transcript per input, named after it;
  without -o the transcripts are printed one after another, each after a "==> FILE <==" line.
  The realtime model gives every word its time (80 ms steps); Voxtral Mini 3B gives none, so its times are
  estimated by spreading sentences evenly over the audio (JSON says "timing": "estimated").

exit status:
  0    every file was transcribed
  2    usage error: a bad option, or an option the chosen model does not take
  3    some input could not be read (the other files were still transcribed)
  4    the model could not be found, loaded or run
  130  interrupted (Ctrl+C)
"""


class UsageError(Exception):
    """A problem with the command line found after parsing (it depends on the model); exit status 2."""


def _progress_printer():
    last = [0.0]

    def report(p) -> None:
        now = time.monotonic()
        if now - last[0] < 0.5 and p.done_bytes < p.total_bytes:
            return
        last[0] = now
        total = max(p.total_bytes, 1)
        done_gb, total_gb, percent = p.done_bytes / 2**30, total / 2**30, 100 * p.done_bytes / total
        line = f"downloading model: {done_gb:5.2f} / {total_gb:.2f} GB ({percent:3.0f}%)"
        print("\r" + line, end="" if p.done_bytes < p.total_bytes else "\n", file=sys.stderr, flush=True)

    return report


class ProgressBar:
    """Audio seconds processed out of the total, redrawn in place on ``stream``; silent unless it is a terminal."""

    WIDTH = 30

    def __init__(self, name: str, total_s: float, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.name = name if len(name) <= 32 else "…" + name[-31:]
        self.total_s = total_s
        self._drawn = 0.0  # monotonic time of the last redraw; 0: nothing drawn yet

    def update(self, done_s: float) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._drawn < 0.1 and done_s < self.total_s):
            return
        self._drawn = now
        fraction = min(1.0, done_s / self.total_s) if self.total_s > 0 else 1.0
        filled = round(fraction * self.WIDTH)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        line = f"\r{self.name} [{bar}] {done_s:7.1f} / {self.total_s:.1f} s"
        print(line, end="", file=self.stream, flush=True)

    def close(self) -> None:
        if self._drawn:
            print(file=self.stream, flush=True)
            self._drawn = 0.0


def _load(args: argparse.Namespace):
    from model import ModelError, load_realtime

    try:
        return load_realtime(args.model, device=args.device, progress=_progress_printer(), cancel=threading.Event())
    except ModelError as exc:
        print(f"captionist: cannot load the model: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_MODEL) from None


def _read(path: str):
    from model import AudioInputError
    from model.audio import read_file

    try:
        return read_file(path)
    except AudioInputError as exc:
        print(f"captionist: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_INPUT) from None


def input_problem(path: str) -> str | None:
    """Why ``path`` cannot be transcribed (missing, a folder, not audio, empty), or None when it looks fine.

    Only the header is read, so a long recording costs nothing here.
    """
    import soundfile

    p = Path(path)
    if not p.exists():
        return f"{path}: no such file."
    if p.is_dir():
        return f"{path}: is a folder, not an audio file."
    try:
        info = soundfile.info(str(p))
    except (soundfile.LibsndfileError, RuntimeError, TypeError, OSError) as exc:
        reason = (str(exc).split(": ", 1)[-1] if str(p) in str(exc) else str(exc)).strip().rstrip(".")
        if "does not exist" in reason:  # libsndfile's words for data no decoder accepts (e.g. a broken MP3)
            reason = "unrecognised or damaged audio data"
        return f"{path}: cannot read this file ({reason}): is it an audio file?"
    if info.frames == 0:
        return f"{path}: the file holds no audio."
    return None


def output_paths(files: list[str], output: str | None, fmt: str) -> list[Path | None]:
    """Where each input's transcript goes (None: stdout). Inputs that share a name stem keep their extension in the
    output name (talk.wav.srt, talk.flac.srt); names still equal get -2, -3..."""
    from app.export import EXTENSIONS

    ext = EXTENSIONS[fmt]
    if output is None:
        return [None] * len(files)
    out = Path(output)
    if len(files) == 1 and not out.is_dir():
        return [out]
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {output}: several inputs need a folder, and this is a file.")
    stems = [Path(f).stem for f in files]
    taken: set[str] = set()
    paths: list[Path | None] = []
    for f, stem in zip(files, stems, strict=True):
        base = stem if stems.count(stem) == 1 else Path(f).name
        name, n = base + ext, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}{ext}"
        taken.add(name)
        paths.append(out / name)
    return paths


def realtime_events(model: Any, samples: Any, rate: int, *, delay_ms: int, source_id: str,
                    progress: ProgressBar | None = None) -> list[CaptionEvent]:
    """Caption events (one per 80 ms token, with its audio span) for a whole file fed through a live stream.

    A stream gives the same tokens as offline transcription and also their times; feeding it a few seconds at a time
    lets the progress bar move.
    """
    from app.events import CaptionEvent
    from model.audio import as_mono_float32

    mono = as_mono_float32(samples)  # downmix first: a short multi-channel block could be read as channels-first
    session = model.stream(delay_ms=delay_ms)
    block = max(1, int(FEED_SECONDS * rate))
    tokens = []
    for i in range(0, mono.size, block):
        tokens += session.feed(mono[i : i + block], sample_rate=rate)
        if progress is not None:
            progress.update(min(mono.size, i + block) / rate)
    tokens += session.finish()
    events = [CaptionEvent(source_id, t.text, (t.token_id,), t.start_s, t.end_s) for t in tokens]
    if events:
        events[-1] = replace(events[-1], final=True)
    return events


def voxtral_events(model: Any, samples: Any, rate: int, *, language: str | None, source_id: str,
                   progress: ProgressBar | None = None) -> list[CaptionEvent]:
    """Caption events for a whole file transcribed by Voxtral: one per sentence, without token ids, each given a
    share of its part's time span in proportion to its length (Voxtral gives no times)."""
    from app.events import CaptionEvent
    from model.audio import as_mono_float32

    mono = as_mono_float32(samples)
    piece = int(min(VOXTRAL_PIECE_S, max(model.max_audio_seconds, model.config.chunk_seconds)) * rate)
    events: list[CaptionEvent] = []
    for a in range(0, mono.size, piece):
        part = mono[a : a + piece]
        seconds = part.size / rate
        limit = int(seconds * VOXTRAL_TOKENS_PER_S) + 64
        text = model.transcribe(part, rate, language=language, max_new_tokens=limit).text.strip()
        if text and events:
            text = " " + text
        start, offset = a / rate, 0
        for sentence in SENTENCE_BREAK.split(text) if text else []:
            t0, t1 = offset / len(text), (offset + len(sentence)) / len(text)
            events.append(CaptionEvent(source_id, sentence, (), start + t0 * seconds, start + t1 * seconds))
            offset += len(sentence)
        if progress is not None:
            progress.update((a + part.size) / rate)
    if events:
        events[-1] = replace(events[-1], final=True)
    return events


def _open_model(args: argparse.Namespace) -> tuple[str, Any]:
    """The model's kind and the loaded model; raises UsageError for options the kind does not take."""
    from app.model_kind import REALTIME, model_kind
    from model import load_realtime, load_voxtral
    from model.loading import resolve_source

    folder = resolve_source(args.model, progress=_progress_printer(), cancel=threading.Event())
    kind = model_kind(folder)
    if kind == REALTIME and args.language is not None:
        raise UsageError("--language is for Voxtral Mini 3B; the realtime model detects the language itself. "
                         "Leave --language out, or choose a Voxtral model with --model.")
    if kind != REALTIME and args.delay_ms is not None:
        raise UsageError("--delay-ms is for the realtime model; Voxtral Mini 3B transcribes whole files and has no "
                         "delay. Leave --delay-ms out.")
    load = load_realtime if kind == REALTIME else load_voxtral
    return kind, load(folder, device=args.device)


def _emit(text: str, path: Path | None, name: str, several: bool) -> None:
    from app.export import write_export

    if path is not None:
        write_export(path, text)
    else:
        if several:
            sys.stdout.write(f"==> {name} <==\n")
        sys.stdout.write(text)
        sys.stdout.flush()


def cmd_transcribe(args: argparse.Namespace) -> int:
    from app.export import export
    from app.model_kind import REALTIME
    from model import AudioInputError, ConversationError, ModelError
    from model.audio import read_file

    status = EXIT_OK
    jobs = []  # (input, output) for the inputs that look readable
    for path, out in zip(args.files, output_paths(args.files, args.output, args.format), strict=True):
        problem = input_problem(path)
        if problem:
            print(f"captionist: {problem}", file=sys.stderr)
            status = EXIT_INPUT
        else:
            jobs.append((path, out))
    if not jobs:
        return status
    try:
        kind, model = _open_model(args)
    except (ModelError, OSError) as exc:
        print(f"captionist: cannot load the model: {exc}", file=sys.stderr)
        return EXIT_MODEL
    for path, out in jobs:
        name = Path(path).name
        try:
            samples, rate = read_file(path)
        except AudioInputError as exc:
            print(f"captionist: {exc}", file=sys.stderr)
            status = EXIT_INPUT
            continue
        progress = ProgressBar(name, len(samples) / rate)
        try:
            if kind == REALTIME:
                delay = DEFAULT_DELAY_MS if args.delay_ms is None else args.delay_ms
                events = realtime_events(model, samples, rate, delay_ms=delay, source_id=name, progress=progress)
            else:
                events = voxtral_events(model, samples, rate, language=args.language, source_id=name,
                                        progress=progress)
        except AudioInputError as exc:
            print(f"captionist: {path}: {exc}", file=sys.stderr)
            status = EXIT_INPUT
            continue
        except ConversationError as exc:
            raise UsageError(str(exc)) from None
        except ModelError as exc:
            print(f"captionist: {path}: the model failed: {exc}", file=sys.stderr)
            return EXIT_MODEL
        finally:
            progress.close()
        recorded = dt.datetime.fromtimestamp(Path(path).stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        text = export(events, args.format, model=args.model, title=name, date=recorded)
        _emit(text, out, path, several=len(args.files) > 1)
    return status


def cmd_stream(args: argparse.Namespace) -> int:
    samples, rate = _read(args.file)
    model = _load(args)
    session = model.stream(delay_ms=DEFAULT_DELAY_MS if args.delay_ms is None else args.delay_ms)
    block = max(1, rate // 25)  # 40 ms blocks, like a sound card delivers them
    start = time.monotonic()
    for i in range(0, len(samples), block):
        if not args.fast:  # pace the file like a live source
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        for event in session.feed(samples[i : i + block], sample_rate=rate):
            print(event.text, end="", flush=True)
    for event in session.finish():
        print(event.text, end="", flush=True)
    print()
    return EXIT_OK


def _language(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{2}", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a two-letter language code such as en, fr or de")
    return value.lower()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="captionist", description="Live captions and transcripts, on your machine.")
    parser.add_argument("--model", dest="gui_model", metavar="SOURCE",
                        help="model folder or hub repo id (saved in the settings)")
    parser.add_argument("--play", metavar="FILE", help="caption this file played as a live source")
    parser.add_argument("--offline", action="store_true", help="never contact the model hub")
    sub = parser.add_subparsers(dest="command")

    def model_options(p: argparse.ArgumentParser, delay_help: str) -> None:
        p.add_argument("--model", default=DEFAULT_MODEL, help="model folder or hub repo id (default: %(default)s)")
        p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: the GPU if there is one)")
        p.add_argument("--delay-ms", type=int, default=None, help=delay_help)

    t = sub.add_parser(
        "transcribe", help="transcribe audio files", epilog=TRANSCRIBE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Transcribe audio files with the realtime model or Voxtral Mini 3B (the kind is read from the "
                    "model's files). Works without a display; a progress bar shows on a terminal.",
    )
    t.add_argument("files", nargs="+", metavar="FILE")
    model_options(t, f"realtime model only: 80 to 2400 in steps of 80 (default: {DEFAULT_DELAY_MS})")
    t.add_argument("--language", type=_language, default=None,
                   help="Voxtral Mini 3B only: the spoken language, e.g. en (default: detected)")
    t.add_argument("--format", choices=FORMATS, default="txt", help="transcript format (default: %(default)s)")
    t.add_argument("-o", "--output", metavar="PATH", help="output file, or folder when several files are given")
    t.set_defaults(run=cmd_transcribe)
    s = sub.add_parser("stream", help="play a file as a live source and print captions as they are decoded")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--fast", action="store_true", help="do not pace the file in real time")
    model_options(s, f"80 to 2400 in steps of 80 (default: {DEFAULT_DELAY_MS})")
    s.set_defaults(run=cmd_stream)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from app.gui import run

        return run(model=args.gui_model, play=args.play, offline=args.offline)
    delay = getattr(args, "delay_ms", None)
    if delay is not None and (delay % 80 or not 80 <= delay <= 2400):
        parser.error("--delay-ms must be a multiple of 80 between 80 and 2400")
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"captionist {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ncaptionist: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
