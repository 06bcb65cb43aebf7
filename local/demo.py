"""The README's demo: synthesize the stack, run it in local mode, print the comparison, write the report."""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.console import Console, ExecutionView, SageMakerView
from local.runner import SAMPLE_DIR, LocalShardlab
from local.template import synth_template
from stacks.paths import REPO_ROOT

DEFAULT_YEARS = (1979, 1980, 1981, 1982, 1983, 1984)
# `make demo-sweep` (`--sweep`): enough instance counts to see the speed-up curve, two epoch counts to see whether
# more epochs close the accuracy gap; lcm(1, 2, 5) = 10 train objects per year.
DEMO_SWEEP: dict[str, Any] = {"instanceCount": [1, 2, 5], "hyperParameters": {"epochs": ["2", "4"]}}


@dataclass(frozen=True)
class Scale:
    """How big the source years are: the bundled sample as is, or generated at a fraction of full size."""

    name: str
    fraction: float | None  # of data/scale_up.FULL_YEAR_ROWS; None: the bundled rows unchanged

    @classmethod
    def parse(cls, text: str) -> Scale:
        if text == "sample":
            return cls("sample", None)
        if text == "full":
            return cls("full", 1.0)
        try:
            fraction = float(text)
        except ValueError:
            fraction = 0.0
        if not 0 < fraction <= 1:
            raise ValueError(f"--scale: {text!r} is not 'sample', 'full' or a fraction of full size in (0, 1]")
        return cls(text, fraction)


def _scale_up() -> Any:
    """data/scale_up.py (a script folder, not a package: imported by path, as the benchmarks do)."""
    data_dir = str(REPO_ROOT / "data")
    if data_dir not in sys.path:
        sys.path.insert(0, data_dir)
    return importlib.import_module("scale_up")


def rows_per_year(scale: Scale) -> int | None:
    return None if scale.fraction is None else round(_scale_up().FULL_YEAR_ROWS * scale.fraction)


@contextlib.contextmanager
def source_years(scale: Scale, execution_input: dict[str, Any], console: Console) -> Iterator[Path]:
    """The folder of year files local mode serves as s3://gdelt-open-data/events/: the bundled sample, or the
    run's years generated at the scale's size (each from its own bundled rows, see data/scale_up.py)."""
    rows = rows_per_year(scale)
    if rows is None:
        yield SAMPLE_DIR
        return
    wanted = [*execution_input.get("trainYears", []), execution_input.get("testYear")]
    years = sorted({y for y in wanted if y in DEFAULT_YEARS}) if execution_input.get("trainYears") else DEFAULT_YEARS
    scale_up = _scale_up()
    with tempfile.TemporaryDirectory(prefix="shardlab-gdelt-") as folder:
        started = time.monotonic()
        total = sum(scale_up.write_own_year(Path(folder) / f"{year}.csv", year, rows) for year in years)
        console.line(
            f"generated {len(years)} years x {rows:,} rows ({total / 1e6:,.0f} MB) from each year's own bundled "
            f"rows in {time.monotonic() - started:.1f}s (--scale {scale.name})"
        )
        yield Path(folder)


SWEEP_PICTURE = "speed-up against instances beside the ideal line, test MSE against epochs, cost against MSE with "\
    "the Pareto frontier"


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
    scale: Scale = Scale("sample", None),
) -> int:
    console.line("synthesizing the CDK app (the template `cdk deploy` would deploy)")
    template = synth_template()
    console.line(f"synthesized in {time.monotonic() - started:.1f}s; starting local AWS (moto + local SageMaker)")
    with contextlib.ExitStack() as stack:
        sample_dir = stack.enter_context(source_years(scale, execution_input, console))
        # With --keep-endpoints, moto's state is also served on 127.0.0.1 so a notebook kernel can open the run.
        local = stack.enter_context(
            LocalShardlab(template, sample_dir=sample_dir, listener=SageMakerView(console), serve_aws=keep_endpoints)
        )
        return _run(
            console,
            local,
            execution_input,
            out_dir=out_dir,
            name=name,
            keep_endpoints=keep_endpoints,
            started=started,
            scale=scale,
        )


def _run(
    console: Console,
    local: LocalShardlab,
    execution_input: dict[str, Any],
    *,
    out_dir: Path,
    name: str | None,
    keep_endpoints: bool,
    started: float,
    scale: Scale,
) -> int:
    data = "GDELT sample" if scale.fraction is None else f"generated GDELT years (--scale {scale.name})"
    console.line(f"local SageMaker on {local.server.url}; {data} in s3://gdelt-open-data/events/")
    execution_arn = local.start(execution_input, name=name)
    execution_name = execution_arn.rsplit(":", 1)[1]
    console.line(f"execution {execution_name} started with input {json.dumps(execution_input) or '{}'}")
    try:
        description = local.wait(execution_arn, on_event=ExecutionView(console))
    except KeyboardInterrupt:
        local.stop(execution_arn, cause="Ctrl-C in python -m local run")
        raise
    suite = local.write_teststate_suite(out_dir / execution_name, execution_name)
    console.line(f"TestState suite ({len(json.loads(suite.read_text())['entries'])} requests): {suite}")
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
    if summary.get("recommendation"):
        print(f"Recommendation: {summary['recommendation']}\n")
    if summary.get("costUsd") is not None:
        print(f"Cost: ${summary['costUsd']:.4f} at on-demand prices from the {summary.get('priceSource')}\n")
    print(scale_note(scale, summary))
    console.line(f"report files: {', '.join(str(path) for kind, path in saved.items() if kind != 'png')}")
    if "png" in saved:
        shows = (SWEEP_PICTURE if summary.get("recommendation") else
                 "training time, cost, predicted vs actual, errors")
        console.line(f"picture ({shows}): {saved['png']}")
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


def scale_note(scale: Scale, summary: dict[str, Any]) -> str:
    """What the figures above were measured on, so nobody reads a tiny sample's times as sharding's effect."""
    timing = (
        "Training times are the simulated cluster's (ClusterModel in local/linear_learner/cluster_time.py: each\n"
        "constant says where it comes from), computed from the rows and bytes each host received; this machine's\n"
        "speed does not enter."
    )
    rows = rows_per_year(scale)
    if rows is None:
        return (
            "Data: the bundled real GDELT sample, a few thousand rows per year (about 1/300 of a real year). On so\n"
            "few rows the jobs' fixed costs (start-up, upload) are most of their time, so these times do not\n"
            "measure what sharding does; `make demo` (--scale 0.2) and `make demo-full` (--scale full) run on\n"
            "full-size data and show it.\n" + timing + "\n"
        )
    return (
        f"Data: every year generated at {rows:,} rows (--scale {scale.name}; the real 1979 file has 430,941) from\n"
        "that year's own bundled real rows with seeded noise (data/scale_up.py), so no row is shared between\n"
        "training and test years.\n" + timing + "\n"
    )
