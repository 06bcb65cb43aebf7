"""``python -m local run``: the whole workshop offline, from the synthesized state machine.

python -m local run                               # defaults: train 1979-1983, test 1984, 5 instances
python -m local run --years 1979-1981 --test-year 1982
python -m local run --input '{"instanceCount": 3, "hyperParameters": {"epochs": "4"}}'
python -m local run --keep-endpoints              # keep serving both endpoints until Ctrl-C
python -m local run --scale full                  # full-size years (430,941 rows each) generated from the sample
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from local.console import Console
from local.demo import Scale, run_demo


def _years(text: str) -> list[int]:
    years: list[int] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            years.extend(range(int(first), int(last or first) + 1))
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"--years: {text!r} is not like 1979-1983 or 1979,1981") from error
    return years


def _input(text: str) -> dict[str, Any]:
    source = Path(text[1:]).read_text() if text.startswith("@") else text
    try:
        value = json.loads(source)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"--input is not JSON: {error}") from error
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--input must be a JSON object (the execution input)")
    return value


def _scale(text: str) -> Scale:
    try:
        return Scale.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the state machine end to end on the bundled GDELT sample")
    run.add_argument("--input", type=_input, default={}, help="execution input as JSON (or @file.json)")
    run.add_argument("--years", type=_years, help="training years, e.g. 1979-1983 (sets trainYears)")
    run.add_argument("--test-year", type=int, help="held-out test year (sets testYear)")
    run.add_argument("--keep-endpoints", action="store_true", help="keep both endpoints serving until Ctrl-C")
    run.add_argument("--out", type=Path, default=Path("out"), help="where report files go (default ./out)")
    run.add_argument("--name", help="execution name (default: a unique local-... name)")
    run.add_argument(
        "--scale",
        type=_scale,
        default=Scale.parse("sample"),
        help="sample: the bundled real rows as they are (default); full: every year generated at the real 1979 "
        "file's size (430,941 rows) from that year's own bundled rows, with seeded noise; or a fraction of full "
        "(e.g. 0.25)",
    )
    return parser.parse_args(argv)


def execution_input(args: argparse.Namespace) -> dict[str, Any]:
    payload = dict(args.input)
    if args.years:
        payload["trainYears"] = args.years
    if args.test_year:
        payload["testYear"] = args.test_year
    if args.keep_endpoints:
        payload["keepEndpoints"] = True
    return payload


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    console = Console(sys.stdout)
    # Ctrl-C: SIGINT raises KeyboardInterrupt in the main thread; run_demo stops the execution and
    # everything it started before returning.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    try:
        return run_demo(
            console,
            execution_input=execution_input(args),
            out_dir=args.out,
            name=args.name,
            keep_endpoints=args.keep_endpoints,
            started=started,
            scale=args.scale,
        )
    except KeyboardInterrupt:
        console.line("interrupted: local mode shut down")
        return 130


if __name__ == "__main__":
    sys.exit(main())
