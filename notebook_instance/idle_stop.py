#!/usr/bin/python3
"""Stop this SageMaker notebook instance once Jupyter has been idle for a while.

The on-start lifecycle script (stacks/notebook.py) installs this file as /usr/local/bin/shardlab-idle-stop and a
systemd timer that runs it every 5 minutes. It runs on the instance's system Python (/usr/bin/python3, Python 3.9
for the life of Amazon Linux 2023) with the standard library only, and calls the AWS CLI to stop the instance.

Idle means: no kernel is executing, and Jupyter's own last activity (API requests, kernel messages, terminals:
what jupyter_server's GET /api/status reports) is older than the limit. Reading that must not count as activity
itself: /api/status never updates it, and /api/kernels is asked with `no_track_activity`, which jupyter_server's
APIHandler honours. A plain GET /api/kernels would reset the idle clock on every check.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

UTC = datetime.timezone.utc
JUPYTER_URL = "https://localhost:8443"  # the notebook instance's Jupyter server (self-signed certificate)
METADATA_FILE = "/opt/ml/metadata/resource-metadata.json"
STATE_FILE = "/run/shardlab-idle-stop/unreachable-since"  # tmpfs: forgotten at every boot
UNTRACKED = "no_track_activity=1"


def jupyter(base_url: str, path: str, timeout: float = 10.0) -> Any:
    """GET one Jupyter API path without it counting as activity."""
    separator = "&" if "?" in path else "?"
    url = f"{base_url.rstrip('/')}/api/{path}{separator}{UNTRACKED}"
    context = ssl._create_unverified_context() if url.startswith("https:") else None  # localhost only
    with urllib.request.urlopen(url, context=context, timeout=timeout) as answer:
        return json.load(answer)


def parse_time(text: str) -> datetime.datetime:
    """Jupyter's ISO 8601 timestamps (YYYY-MM-DDTHH:MM:SS.ffffffZ), as aware UTC datetimes."""
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def idle_verdict(status: dict[str, Any], kernels: list[dict[str, Any]], now: datetime.datetime,
                 idle: datetime.timedelta) -> tuple[bool, str]:
    """(stop?, why) from Jupyter's status and kernel list."""
    busy = [kernel["id"] for kernel in kernels if kernel.get("execution_state") == "busy"]
    if busy:
        return False, f"kernel(s) busy: {', '.join(busy)}"
    last = parse_time(status["last_activity"])
    quiet = now - last
    minutes = quiet.total_seconds() / 60
    if quiet > idle:
        return True, f"idle for {minutes:.1f} min (last activity {status['last_activity']}), no kernel busy"
    return False, f"last activity {status['last_activity']}, {minutes:.1f} min ago"


def unreachable_verdict(state_file: Path, now: datetime.datetime, idle: datetime.timedelta,
                        error: Exception) -> tuple[bool, str]:
    """Jupyter did not answer: stop once it has not answered for the whole idle time (nobody can use it)."""
    try:
        since = parse_time(state_file.read_text().strip())
    except (OSError, ValueError):
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(now.isoformat())
        since = now
    down = now - since
    reason = f"Jupyter not answering for {down.total_seconds() / 60:.1f} min ({error})"
    return down > idle, reason


def notebook_name(metadata_file: str) -> str:
    with open(metadata_file) as metadata:
        return str(json.load(metadata)["ResourceName"])


def stop_instance(region: str, metadata_file: str) -> None:
    name = notebook_name(metadata_file)
    # The on-start script found the CLI (it is not on every image's PATH) and names it in the unit's environment.
    aws_cli = os.environ.get("SHARDLAB_AWS_CLI") or "aws"
    subprocess.run([aws_cli, "sagemaker", "stop-notebook-instance", "--region", region,
                    "--notebook-instance-name", name], check=True)


def check(args: argparse.Namespace) -> tuple[bool, str]:
    now = parse_time(args.now) if args.now else datetime.datetime.now(UTC)
    idle = datetime.timedelta(minutes=args.idle_minutes)
    state_file = Path(args.state_file)
    try:
        status = jupyter(args.jupyter_url, "status")
        kernels = jupyter(args.jupyter_url, "kernels")
    except (OSError, ValueError) as error:  # URLError, refused, timeout, not JSON
        return unreachable_verdict(state_file, now, idle, error)
    state_file.unlink(missing_ok=True)  # answering again: the outage is over
    return idle_verdict(status, kernels, now, idle)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-minutes", type=float, required=True)
    parser.add_argument("--region", required=True, help="the notebook instance's region")
    parser.add_argument("--jupyter-url", default=JUPYTER_URL)
    parser.add_argument("--metadata-file", default=METADATA_FILE, help="where SageMaker names this instance")
    parser.add_argument("--state-file", default=STATE_FILE, help="remembers since when Jupyter is not answering")
    parser.add_argument("--now", help="judge as of this ISO 8601 time instead of the clock (dry runs, tests)")
    parser.add_argument("--dry-run", action="store_true", help="say what would happen, stop nothing")
    args = parser.parse_args(argv)
    stop, reason = check(args)
    if not stop:
        print(f"shardlab-idle-stop: keep running: {reason}", flush=True)
        return 0
    print(f"shardlab-idle-stop: stopping: {reason}", flush=True)
    if not args.dry_run:
        stop_instance(args.region, args.metadata_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
