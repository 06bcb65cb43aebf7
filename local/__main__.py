"""``python -m local run``: the whole workshop offline, from the synthesized state machine.

python -m local run                               # defaults: train 1979-1983, test 1984, 5 instances
python -m local run --years 1979-1981 --test-year 1982
python -m local run --input '{"instanceCount": 3, "hyperParameters": {"epochs": "4"}}'
python -m local run --keep-endpoints              # keep serving both endpoints until Ctrl-C
python -m local run --scale full                  # full-size years (430,941 rows each) generated from the sample
python -m local run --sweep --scale 0.2          # the demo sweep: instanceCount 1, 2, 5 x epochs 2, 4 (make demo-sweep)
python -m local verify-aws --suite out/<execution>/teststate/suite.json --stack shardlab   # TestState on AWS
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import boto3

from local.console import Console
from local.demo import DEMO_SWEEP, Scale, run_demo
from local.teststate.suite import load_suite
from local.teststate.verify import deployed_definition, print_table, sfn_client, synthesized_definition, verify


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
    run.add_argument(
        "--sweep", action="store_true",
        help=f"run the demo sweep {json.dumps(DEMO_SWEEP)} (sets the input's sweep): both distribution types at "
        "every point, a table per point, the Pareto frontier, one recommendation and sweep.png",
    )
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
    verify = commands.add_parser(
        "verify-aws", help="run every recorded state on AWS's TestState (mocked, STRICT) and compare with local mode"
    )
    verify.add_argument("--suite", type=Path, required=True, help="out/<execution>/teststate/suite.json")
    verify.add_argument("--stack", help="deployed stack whose state machine to test (default: the synthesized one)")
    verify.add_argument("--state-machine-arn", help="test this deployed state machine (instead of --stack)")
    verify.add_argument("--region", help="AWS region (default: the profile's)")
    verify.add_argument("--profile", help="AWS named profile")
    verify.add_argument("--concurrency", type=int, default=4, help="TestState requests in flight (default 4)")
    verify.add_argument("--endpoint-url", help=argparse.SUPPRESS)  # a loopback stand-in, for the tests
    return parser.parse_args(argv)


def verify_aws(args: argparse.Namespace) -> int:
    suite = load_suite(args.suite.read_text())
    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    if args.stack or args.state_machine_arn:
        definition = deployed_definition(
            session, stack=args.stack, state_machine_arn=args.state_machine_arn, endpoint_url=args.endpoint_url
        )
    else:
        definition = synthesized_definition(session)
    sfn = sfn_client(session, args.endpoint_url)
    verdicts = verify(sfn, suite, definition, concurrency=args.concurrency)
    print_table(verdicts)
    return 0 if all(verdict.ok for verdict in verdicts) else 1


def execution_input(args: argparse.Namespace) -> dict[str, Any]:
    payload = dict(args.input)
    if args.years:
        payload["trainYears"] = args.years
    if args.test_year:
        payload["testYear"] = args.test_year
    if args.keep_endpoints:
        payload["keepEndpoints"] = True
    if args.sweep:
        payload["sweep"] = DEMO_SWEEP
    return payload


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "verify-aws":
        return verify_aws(args)
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
