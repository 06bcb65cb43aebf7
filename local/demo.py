"""The README's demo: synthesize the stack, run it in local mode, print the comparison, write the report."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from local.console import Console, ExecutionView, SageMakerView
from local.runner import LocalShardlab
from local.template import synth_template

SMALL_DATA_SPEED_UP = 1.5
SMALL_DATA_NOTE = (
    "Note: on a few thousand rows (the bundled sample), instance start-up and setup dominate both jobs, so\n"
    "sharding barely changes training time. On full-size years (430,941 rows each) the simulated cluster trains\n"
    "sharded about 3x faster: see bench/bench_linear_learner.py (`make bench`).\n"
)


def _report_keys(output: dict[str, Any]) -> dict[str, str]:
    """Keys (in the stack bucket) of the files the compare step wrote: {"json": ..., "md": ..., "png": ...}."""
    reports = output.get("summary", {}).get("report", {})
    uris = {"json": reports.get("json"), "md": reports.get("markdown"), "png": reports.get("chart")}
    return {kind: uri.split("/", 3)[3] for kind, uri in uris.items() if isinstance(uri, str)}


def save_reports(local: LocalShardlab, output: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Copies report.json, report.md and comparison.png (same names: report.md links the picture)."""
    saved = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    for kind, key in _report_keys(output).items():
        path = out_dir / key.rsplit("/", 1)[-1]
        path.write_bytes(local.read_object(key))
        saved[kind] = path
    (out_dir / "execution-output.json").write_text(json.dumps(output, indent=2, sort_keys=True))
    return saved


def run_demo(
    console: Console,
    *,
    execution_input: dict[str, Any],
    out_dir: Path,
    name: str | None,
    keep_endpoints: bool,
    started: float,
) -> int:
    console.line("synthesizing the CDK app (the template `cdk deploy` would deploy)")
    template = synth_template()
    console.line(f"synthesized in {time.monotonic() - started:.1f}s; starting local AWS (moto + local SageMaker)")
    # With --keep-endpoints, moto's state is also served on 127.0.0.1 so a notebook kernel can open the run.
    with LocalShardlab(template, listener=SageMakerView(console), serve_aws=keep_endpoints) as local:
        console.line(f"local SageMaker on {local.server.url}; GDELT sample in s3://gdelt-open-data/events/")
        execution_arn = local.start(execution_input, name=name)
        execution_name = execution_arn.rsplit(":", 1)[1]
        console.line(f"execution {execution_name} started with input {json.dumps(execution_input) or '{}'}")
        try:
            description = local.wait(execution_arn, on_event=ExecutionView(console))
        except KeyboardInterrupt:
            local.stop(execution_arn, cause="Ctrl-C in python -m local run")
            raise
        if description["status"] != "SUCCEEDED":
            console.line(f"execution {description['status']}: {description.get('error')}")
            console.line(f"cause: {description.get('cause')}")
            return 1
        output = json.loads(description["output"])
        saved = save_reports(local, output, out_dir / execution_name)
        if "md" in saved:
            print("\n" + saved["md"].read_text())
        summary = output.get("summary", output)
        if summary.get("verdict"):
            print(f"Verdict: {summary['verdict']}\n")
        if float(summary.get("trainingSpeedUp") or 0) < SMALL_DATA_SPEED_UP:
            print(SMALL_DATA_NOTE)
        console.line(f"report files: {', '.join(str(path) for kind, path in saved.items() if kind != 'png')}")
        if "png" in saved:
            console.line(f"picture (training time, cost, predicted vs actual, errors): {saved['png']}")
        console.line(f"total {time.monotonic() - started:.1f}s")
        if keep_endpoints:
            _serve_until_interrupted(console, local, str(summary.get("runId", "")))
    return 0


def _serve_until_interrupted(console: Console, local: LocalShardlab, run_id: str) -> None:
    names = local.registry.names()
    console.line(f"endpoints kept: {', '.join(names)}; press Ctrl-C to shut down")
    environment = {**local.client_environment(), "SHARDLAB_RUN_ID": run_id}
    exports = "\n".join(f"  export {key}={value}" for key, value in sorted(environment.items()))
    console.line(
        "to open this run from another shell (notebooks/evaluate.ipynb and explore.ipynb, boto3, the aws CLI):\n"
        + exports
    )
    try:
        block_until_interrupted()
    except KeyboardInterrupt:
        console.line("shutting down the local endpoints")


def block_until_interrupted() -> None:
    while True:
        time.sleep(3600)
