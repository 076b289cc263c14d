"""The ``captionist`` command. Headless subcommands work without a display.

    captionist [--model SOURCE] [--play FILE]        the caption window (and overlay)
    captionist transcribe FILE... --model SOURCE     whole files, offline schedule
    captionist stream FILE --model SOURCE            a file played as a live source, captions as they arrive
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

DEFAULT_MODEL = "mistralai/Voxtral-Mini-4B-Realtime-2602"
EXIT_OK, EXIT_USAGE, EXIT_INPUT, EXIT_MODEL = 0, 2, 3, 4


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


def cmd_transcribe(args: argparse.Namespace) -> int:
    from model import AudioInputError

    audios = [_read(f) for f in args.files]  # read everything first: a bad file fails before the slow part
    model = _load(args)
    status = EXIT_OK
    for path, (samples, rate) in zip(args.files, audios, strict=True):
        try:
            result = model.transcribe(samples, rate, delay_ms=args.delay_ms)
        except AudioInputError as exc:
            print(f"captionist: {path}: {exc}", file=sys.stderr)
            status = EXIT_INPUT
            continue
        text = result.text.strip()
        if args.output:
            out = Path(args.output) / (Path(path).stem + ".txt") if len(args.files) > 1 else Path(args.output)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text + "\n", encoding="utf-8")
        else:
            print(f"{path}: {text}" if len(args.files) > 1 else text)
    return status


def cmd_stream(args: argparse.Namespace) -> int:
    samples, rate = _read(args.file)
    model = _load(args)
    session = model.stream(delay_ms=args.delay_ms)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="captionist", description="Live captions and transcripts, on your machine.")
    parser.add_argument("--model", dest="gui_model", metavar="SOURCE",
                        help="model folder or hub repo id (saved in the settings)")
    parser.add_argument("--play", metavar="FILE", help="caption this file played as a live source")
    parser.add_argument("--offline", action="store_true", help="never contact the model hub")
    sub = parser.add_subparsers(dest="command")

    def model_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", default=DEFAULT_MODEL, help="model folder or hub repo id (default: %(default)s)")
        p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: the GPU if there is one)")
        p.add_argument("--delay-ms", type=int, default=480, help="80 to 2400 in steps of 80 (default: %(default)s)")

    t = sub.add_parser("transcribe", help="transcribe audio files")
    t.add_argument("files", nargs="+", metavar="FILE")
    t.add_argument("-o", "--output", help="write the text here (a folder when several files are given)")
    model_options(t)
    t.set_defaults(run=cmd_transcribe)
    s = sub.add_parser("stream", help="play a file as a live source and print captions as they are decoded")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--fast", action="store_true", help="do not pace the file in real time")
    model_options(s)
    s.set_defaults(run=cmd_stream)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from app.gui import run

        return run(model=args.gui_model, play=args.play, offline=args.offline)
    if getattr(args, "delay_ms", 480) % 80 or not 80 <= args.delay_ms <= 2400:
        parser.error("--delay-ms must be a multiple of 80 between 80 and 2400")
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
