"""The ``captionist`` command. Headless subcommands work without a display and never import Qt.

    captionist [--model SOURCE] [--play FILE]        the caption window (and overlay)
    captionist transcribe FILE... [--format FMT]     whole files to transcripts (txt, srt, vtt, json, md)
    captionist stream FILE --model SOURCE            a file played as a live source, captions as they arrive
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from app import identity
from app.settings import AUTO_PRECISION, PRECISION_CHOICES

if TYPE_CHECKING:
    import numpy as np

    from app.events import CaptionEvent
    from model.audio_file import AudioFile

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
  One FILE: the transcript goes to stdout, or to -o PATH (into PATH when it is a folder or ends with /).
  Several FILEs: -o names a folder (created when missing) that gets one transcript per input, named after it;
  without -o the transcripts are printed one after another, each after a "==> FILE <==" line.
  The realtime model gives every word its time (80 ms steps); Voxtral Mini 3B gives none, so its times are
  estimated by spreading sentences evenly over the audio (JSON says "timing": "estimated").

what -o may replace (all checked before the model is loaded; a refusal is exit status 2):
  Replaced: an existing plain file with the chosen format's extension (.srt for --format srt, ...), such as the
  transcript of an earlier run.
  Never replaced: an input of this run (however its path is spelled or linked), an audio file (known by its
  extension or its contents), a folder, a symbolic link, a device or pipe, a file with another extension.
  Never written: anything inside the program's recordings folder; a folder that cannot be created or written.
  An -o PATH that would replace one of these is refused; a name made inside an -o folder takes -2, -3...
  instead, and says so. Names too long for the file system are shortened, keeping the extension.

exit status:
  0    every file was transcribed
  2    usage error: a bad option, an option the chosen model does not take, or an output it will not write
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
    from model.loading import resolve_source

    try:
        folder = resolve_source(args.model, offline=args.offline, progress=_progress_printer(),
                                cancel=threading.Event())
        return load_realtime(folder, device=args.device, precision=args.precision)
    except (ModelError, OSError) as exc:
        print(f"captionist: cannot load the model: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_MODEL) from None


def _open_audio(path: str, target_rate: int | None = None) -> AudioFile:
    """The input opened for reading in blocks (raises AudioInputError); says so when a WAV holds more than its header
    counts, which is all read."""
    from model.audio_file import AudioFile

    audio = AudioFile(path, target_rate=target_rate)
    if audio.frames > audio.stated_frames:
        print(f"captionist: {path}: the WAV header counts {audio.stated_frames / audio.source_rate:.1f} s of audio but "
              f"the file holds {audio.duration_s:.1f} s (a recording that was not finished?); all of it is read.",
              file=sys.stderr)
    return audio


def input_problem(path: str) -> str | None:
    """Why ``path`` cannot be transcribed (missing, a folder, not audio, empty), or None when it looks fine.

    Only the header is read, so a long recording costs nothing here.
    """
    from model import AudioInputError
    from model.audio_file import AudioFile

    try:
        AudioFile(path).close()
    except AudioInputError as exc:
        return str(exc)
    return None


def _explicit_output(out: Path, inputs: list[Path], protected: list[Path], ext: str) -> Path:
    from app.export.output_check import OutputRefused, check_output

    try:
        path = check_output(out, inputs=inputs, protected=protected, replace_ext=ext)
    except OutputRefused as exc:
        raise UsageError(f"-o: {exc}") from None
    if path != out:
        print(f"captionist: {out.name} is too long a name for the file system; writing {path.name}.", file=sys.stderr)
    return path


def _folder_output(folder: Path, base: str, taken: set[str], inputs: list[Path], protected: list[Path],
                   ext: str) -> Path:
    """The first free name base.ext, base-2.ext... in ``folder`` that no other output takes and that replaces
    nothing it must not."""
    from app.export.output_check import OutputRefused, check_output, fit_name

    n, kept = 1, None  # kept: why the first name was not used
    while True:
        name = fit_name(base, ext, folder, tag="" if n == 1 else f"-{n}")
        n += 1
        if name in taken:
            continue
        try:
            path = check_output(folder / name, inputs=inputs, protected=protected, replace_ext=ext)
        except OutputRefused as exc:
            if not exc.occupied:
                raise UsageError(f"-o: {exc}") from None
            kept = kept or exc
            continue
        if kept is not None:
            print(f"captionist: {kept.reason}; writing {path.name} instead.", file=sys.stderr)
        taken.add(name)
        return path


def output_paths(files: list[str], output: str | None, fmt: str) -> list[Path | None]:
    """Where each input's transcript goes (None: stdout), every path checked (app.export.output_check) before any
    work: UsageError for an output that would replace what it must not (see TRANSCRIBE_EPILOG) or cannot be written.

    Inputs that share a name stem keep their extension in the output name (talk.wav.srt, talk.flac.srt); names still
    equal, or taken by something that must be kept, get -2, -3..."""
    from app.export import EXTENSIONS
    from app.recording.session_folder import sessions_dir

    ext = EXTENSIONS[fmt]
    if output is None:
        return [None] * len(files)
    inputs, protected = [Path(f) for f in files], [sessions_dir()]
    out = Path(output)
    if len(files) == 1 and not os.path.isdir(out) and not output.endswith(("/", os.sep)):
        return [_explicit_output(out, inputs, protected, ext)]
    if os.path.lexists(out) and not os.path.isdir(out):
        what = "several inputs need a folder" if len(files) > 1 else "a name ending in / is a folder"
        raise UsageError(f"-o {output}: {what}, and this is a file.")
    stems = [Path(f).stem for f in files]
    taken: set[str] = set()
    return [_folder_output(out, stem if stems.count(stem) == 1 else Path(f).name, taken, inputs, protected, ext)
            for f, stem in zip(files, stems, strict=True)]


def realtime_events(session: Any, audio: AudioFile, *, source_id: str,
                    progress: ProgressBar | None = None) -> list[CaptionEvent]:
    """Caption events (one per 80 ms token with text, with its audio span) for a whole file fed through a live
    stream ``session`` (the local model's, or a server's), block by block as it is read.

    A stream gives the same tokens as offline transcription and also their times. Steps without text (control
    tokens) add nothing to a transcript and are not kept, except the first event, which names the source: what is
    held grows with the transcript, not with the audio.
    """
    from app.events import CaptionEvent

    events: list[CaptionEvent] = []

    def keep(tokens: list) -> None:
        for t in tokens:
            if t.text or not events:
                events.append(CaptionEvent(source_id, t.text, (t.token_id,), t.start_s, t.end_s))

    done = 0
    for block in audio.blocks(max(1, int(FEED_SECONDS * audio.rate))):
        keep(session.feed(block, sample_rate=audio.rate))
        done += block.size
        if progress is not None:
            progress.update(done / audio.rate)
    keep(session.finish())
    if events:
        events[-1] = replace(events[-1], final=True)
    return events


def voxtral_events(transcribe: Callable[[np.ndarray, int], str], audio: AudioFile, *, piece_s: float,
                   source_id: str, progress: ProgressBar | None = None) -> list[CaptionEvent]:
    """Caption events for a whole file transcribed by Voxtral (here or on a server) in parts of ``piece_s`` read one
    at a time (``audio`` is opened at the model's rate; ``transcribe(part, max_new_tokens)`` gives a part's text):
    one per sentence, without token ids, each given a share of its part's time span in proportion to its length
    (Voxtral gives no times)."""
    from app.events import CaptionEvent

    rate = audio.rate
    events: list[CaptionEvent] = []
    done = 0
    for part in audio.blocks(int(piece_s * rate)):
        seconds = part.size / rate
        text = transcribe(part, int(seconds * VOXTRAL_TOKENS_PER_S) + 64).strip()
        if text and events:
            text = " " + text
        start, offset = done / rate, 0
        for sentence in SENTENCE_BREAK.split(text) if text else []:
            t0, t1 = offset / len(text), (offset + len(sentence)) / len(text)
            events.append(CaptionEvent(source_id, sentence, (), start + t0 * seconds, start + t1 * seconds))
            offset += len(sentence)
        done += part.size
        if progress is not None:
            progress.update(done / rate)
    if events:
        events[-1] = replace(events[-1], final=True)
    return events


def voxtral_piece_s(max_audio_seconds: float, chunk_seconds: float) -> float:
    """How much of a long file one Voxtral request takes."""
    return min(VOXTRAL_PIECE_S, max(max_audio_seconds, chunk_seconds))


# Transcribes one opened file to caption events: (audio, source id, progress bar) -> events.
FileTranscriber = Callable[["AudioFile", str, "ProgressBar"], "list[CaptionEvent]"]


def _open_model(args: argparse.Namespace) -> tuple[int | None, FileTranscriber]:
    """The rate files are read at (None: their own) and how they are transcribed, by the model ``--model`` names;
    raises UsageError for options its kind does not take."""
    from app.model_kind import REALTIME, model_kind
    from model import load_realtime, load_voxtral
    from model.loading import resolve_source

    folder = resolve_source(args.model, offline=args.offline, progress=_progress_printer(), cancel=threading.Event())
    kind = model_kind(folder)
    if kind == REALTIME and args.language is not None:
        raise UsageError("--language is for Voxtral Mini 3B; the realtime model detects the language itself. "
                         "Leave --language out, or choose a Voxtral model with --model.")
    if kind != REALTIME and args.delay_ms is not None:
        raise UsageError("--delay-ms is for the realtime model; Voxtral Mini 3B transcribes whole files and has no "
                         "delay. Leave --delay-ms out.")
    if kind == REALTIME:
        realtime = load_realtime(folder, device=args.device, precision=args.precision)
        delay = DEFAULT_DELAY_MS if args.delay_ms is None else args.delay_ms
        return None, lambda audio, name, progress: realtime_events(
            realtime.stream(delay_ms=delay), audio, source_id=name, progress=progress)
    voxtral = load_voxtral(folder, device=args.device, precision=args.precision)
    rate, piece_s = voxtral.sample_rate, voxtral_piece_s(voxtral.max_audio_seconds, voxtral.config.chunk_seconds)

    def transcribe(part: np.ndarray, limit: int) -> str:
        return voxtral.transcribe(part, rate, language=args.language, max_new_tokens=limit).text

    return rate, lambda audio, name, progress: voxtral_events(transcribe, audio, piece_s=piece_s, source_id=name,
                                                              progress=progress)


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
    from app.engine.server.address import ServerError
    from app.export import export
    from model import AudioInputError, ConversationError, ModelError

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
        if args.server:
            from app.cli_server import open_server

            rate, transcribe = open_server(args)
        else:
            rate, transcribe = _open_model(args)
    except (ModelError, OSError) as exc:
        print(f"captionist: cannot load the model: {exc}", file=sys.stderr)
        return EXIT_MODEL
    except ServerError as exc:
        print(f"captionist: cannot use the server: {exc}", file=sys.stderr)
        return EXIT_MODEL
    for path, out in jobs:
        name = Path(path).name
        try:
            audio = _open_audio(path, rate)
        except AudioInputError as exc:  # the other files are still transcribed
            print(f"captionist: {exc}", file=sys.stderr)
            status = EXIT_INPUT
            continue
        progress = ProgressBar(name, audio.duration_s)
        try:
            events = transcribe(audio, name, progress)
        except AudioInputError as exc:
            print(f"captionist: {path}: {exc}", file=sys.stderr)
            status = EXIT_INPUT
            continue
        except ConversationError as exc:
            raise UsageError(str(exc)) from None
        except ModelError as exc:
            print(f"captionist: {path}: the model failed: {exc}", file=sys.stderr)
            return EXIT_MODEL
        except ServerError as exc:
            print(f"captionist: {path}: the server failed: {exc}", file=sys.stderr)
            return EXIT_MODEL
        finally:
            progress.close()
            audio.close()
        recorded = dt.datetime.fromtimestamp(Path(path).stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        text = export(events, args.format, model=args.model, title=name, date=recorded)
        _emit(text, out, path, several=len(args.files) > 1)
    return status


def cmd_stream(args: argparse.Namespace) -> int:
    from app.engine.server.address import ServerError
    from model import AudioInputError

    try:
        audio = _open_audio(args.file)
    except AudioInputError as exc:
        print(f"captionist: {exc}", file=sys.stderr)
        return EXIT_INPUT
    with audio:
        try:
            if args.server:
                from app.cli_server import open_server_stream

                session = open_server_stream(args)
            else:
                session = _load(args).stream(delay_ms=DEFAULT_DELAY_MS if args.delay_ms is None else args.delay_ms)
        except ServerError as exc:
            print(f"captionist: cannot use the server: {exc}", file=sys.stderr)
            return EXIT_MODEL
        start, done = time.monotonic(), 0
        try:
            for block in audio.blocks(max(1, audio.rate // 25)):  # 40 ms blocks, like a sound card delivers them
                if not args.fast:  # pace the file like a live source
                    delay = start + done / audio.rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                done += block.size
                for event in session.feed(block, sample_rate=audio.rate):
                    print(event.text, end="", flush=True)
            events = session.finish()
        except AudioInputError as exc:
            print(f"\ncaptionist: {exc}", file=sys.stderr)
            return EXIT_INPUT
        except ServerError as exc:
            print(f"\ncaptionist: the server failed: {exc}", file=sys.stderr)
            return EXIT_MODEL
        finally:
            if args.server:
                session.close()
    for event in events:
        print(event.text, end="", flush=True)
    print()
    return EXIT_OK


def _language(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{2}", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a two-letter language code such as en, fr or de")
    return value.lower()


BEFORE = "before_"  # the prefix of an option's destination when it is given before the subcommand


def shared_options(p: argparse.ArgumentParser, *, before: bool = False, delay_help: str = "") -> None:
    """The options of both subcommands that may also come before them (--model and --offline are the window's
    own too); the same types and choices both ways, so each is checked wherever it is given."""
    def add(flag: str, **kwargs) -> None:
        dest = flag.lstrip("-").replace("-", "_")
        if before:
            kwargs.update(dest=BEFORE + dest, help=argparse.SUPPRESS)
        p.add_argument(flag, default=None, **kwargs)

    add("--device", help="cpu, cuda or cuda:N (default: the GPU if there is one)")
    add("--precision", choices=PRECISION_CHOICES,
        help="how the weights are kept: auto (fp16 on a CPU, half the memory of fp32 and the same results), full "
             "(as stored), int8 (a quarter of the memory; its accuracy on real speech is not measured). Default: "
             "the program's setting, else auto")
    add("--server", metavar="URL",
        help="use a model a vLLM server serves (http(s)://host:port) instead of one on this computer")
    add("--api-key-file", metavar="FILE", help="with --server: a file whose first line is the server's API key")
    add("--delay-ms", type=int, metavar="MS", help=delay_help)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="captionist", description="Live captions and transcripts, on your machine.",
        epilog="The options of transcribe and stream may also come before the subcommand; given on both sides, the "
               "one after it holds. The model used is the one given with --model, else the one chosen in the "
               f"program's settings, else {DEFAULT_MODEL}.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {identity.version()}")
    parser.add_argument("--model", dest="gui_model", metavar="SOURCE",
                        help="model folder or hub repo id (saved in the settings)")
    parser.add_argument("--play", metavar="FILE", help="caption this file played as a live source")
    parser.add_argument("--offline", action="store_true", help="never contact the model hub")
    shared_options(parser, before=True)  # not listed here: the epilog names them
    sub = parser.add_subparsers(dest="command")

    def model_options(p: argparse.ArgumentParser, delay_help: str) -> None:
        p.add_argument("--model", default=None,
                       help="model folder or hub repo id (default: the one chosen in the program's settings, else "
                            f"{DEFAULT_MODEL}); with --server, the name of a "
                            "model the server serves (default: the one named Realtime, else the only one)")
        shared_options(p, delay_help=delay_help)
        # SUPPRESS: given before the subcommand, the top-level --offline holds
        p.add_argument("--offline", action="store_true", default=argparse.SUPPRESS,
                       help="never contact the model hub: a repo id must already be on this computer")

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
    s = sub.add_parser(
        "stream", help="play a file as a live source and print captions as they are decoded",
        description="Play an audio file as a live source (in real time, or as fast as the model goes with --fast) "
                    "through the realtime model and print the captions as they are decoded. Works without a display.")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--fast", action="store_true", help="do not pace the file in real time")
    model_options(s, f"80 to 2400 in steps of 80 (default: {DEFAULT_DELAY_MS})")
    s.set_defaults(run=cmd_stream)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    before = {name: value for name, value in vars(args).items() if name.startswith(BEFORE) and value is not None}
    if args.command is None:
        if before:
            flag = "--" + next(iter(before))[len(BEFORE):].replace("_", "-")
            parser.error(f"{flag} goes with transcribe or stream (the window takes it from its settings)")
        from app.gui import run

        return run(model=args.gui_model, play=args.play, offline=args.offline)
    args.model = args.model or args.gui_model  # given before the subcommand
    for name, value in before.items():
        if getattr(args, name[len(BEFORE):]) is None:
            setattr(args, name[len(BEFORE):], value)
    if getattr(args, "server", None) is None:
        if getattr(args, "api_key_file", None):
            parser.error("--api-key-file goes with --server")
        if args.model is None:
            from app.settings import SettingsStore

            saved = SettingsStore().peek().model  # the program's choice, read without touching the file
            args.model = saved.source or DEFAULT_MODEL
            args.offline = getattr(args, "offline", False) or (saved.offline and bool(saved.source))
            if getattr(args, "precision", None) is None and saved.source:
                args.precision = saved.precision
    if getattr(args, "precision", None) is None and hasattr(args, "precision"):
        args.precision = AUTO_PRECISION if getattr(args, "server", None) is None else None
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
