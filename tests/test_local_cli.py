"""``python -m local run``: arguments, the live view, the printed comparison and the report files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local import __main__ as cli
from local import demo

pytestmark = pytest.mark.slow


def test_arguments_become_the_execution_input() -> None:
    args = cli.parse_args(
        [
            "run",
            "--years",
            "1979-1981,1983",
            "--test-year",
            "1984",
            "--keep-endpoints",
            "--input",
            '{"instanceCount": 3}',
        ]
    )
    assert cli.execution_input(args) == {
        "instanceCount": 3,
        "trainYears": [1979, 1980, 1981, 1983],
        "testYear": 1984,
        "keepEndpoints": True,
    }


@pytest.mark.parametrize("argv", [["run", "--years", "nineteen"], ["run", "--input", "[1]"], ["run", "--input", "{"]])
def test_bad_arguments_are_refused_with_a_clear_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_args(argv)
    assert exit_info.value.code == 2
    assert "--years" in capsys.readouterr().err or "--input" in capsys.readouterr().err


def test_scale_argument_and_what_the_demo_says_about_its_data() -> None:
    assert cli.parse_args(["run"]).scale == demo.Scale("sample", None)
    assert cli.parse_args(["run", "--scale", "full"]).scale == demo.Scale("full", 1.0)
    assert demo.rows_per_year(cli.parse_args(["run", "--scale", "0.2"]).scale) == 86_188
    for bad in ("2", "0", "big"):
        with pytest.raises(SystemExit):
            cli.parse_args(["run", "--scale", bad])
    sample_note = demo.scale_note(demo.Scale("sample", None), {"trainingSpeedUp": 1.0})
    # Never "sharding barely matters": the sample's times do not measure it, full-size runs do.
    assert "barely" not in sample_note and "do not\nmeasure what sharding does" in sample_note
    assert "make demo-full" in sample_note
    full_note = demo.scale_note(demo.Scale("full", 1.0), {"trainingSpeedUp": 3.8})
    assert "430,941 rows" in full_note and "no row is shared" in full_note and "ClusterModel" in full_note


def test_run_prints_progress_comparison_and_writes_reports(
    template: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "synth_template", lambda: template)  # the session's synthesized app
    code = cli.main(["run", "--years", "1979-1981", "--test-year", "1982", "--out", str(tmp_path), "--name", "cli"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "> Validate input" in printed or "> " in printed
    assert "epoch 2/2" in printed  # training progress from the local SageMaker
    assert "InService" in printed
    assert "Verdict: ShardedByS3Key trained" in printed
    assert "| " in printed  # the markdown comparison table
    run_dir = tmp_path / "cli"
    report = json.loads((run_dir / "report.json").read_text())
    assert "](comparison.png)" in (run_dir / "report.md").read_text()
    assert f"picture (training time, cost, predicted vs actual, errors): {run_dir / 'comparison.png'}" in printed
    assert (run_dir / "comparison.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert report["parameters"]["trainYears"] == [1979, 1980, 1981]
    assert report["parameters"]["testYear"] == 1982


def test_failed_execution_exits_non_zero_and_names_the_error(
    template: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "synth_template", lambda: template)
    code = cli.main(["run", "--years", "1975-1979", "--out", str(tmp_path), "--name", "bad-years"])
    printed = capsys.readouterr().out
    assert code == 1
    assert "execution FAILED" in printed
    assert "trainYears" in printed


def test_keep_endpoints_serves_the_run_to_other_processes_until_ctrl_c(
    template: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess
    import sys

    seen: dict[str, Any] = {}

    def another_shell_then_ctrl_c() -> None:
        printed = capsys.readouterr().out
        exports = dict(
            line.strip().removeprefix("export ").split("=", 1)
            for line in printed.splitlines()
            if line.strip().startswith("export ")
        )
        script = (
            "import boto3, json, os\n"
            "sm = boto3.client('sagemaker')\n"
            "names = [e['EndpointName'] for e in sm.list_endpoints()['Endpoints']]\n"
            "runtime = boto3.client('sagemaker-runtime')\n"
            "body = ','.join(['1'] * 25)\n"
            "scores = [json.loads(runtime.invoke_endpoint(EndpointName=n, ContentType='text/csv', Body=body)"
            "['Body'].read())['predictions'][0]['score'] for n in names]\n"
            "key = f\"runs/{os.environ['SHARDLAB_RUN_ID']}/report.json\"\n"
            "report = boto3.client('s3').get_object(Bucket=os.environ['SHARDLAB_BUCKET'], Key=key)['Body'].read()\n"
            "print(json.dumps({'names': sorted(names), 'scores': scores, 'report': len(report)}))\n"
        )
        child = subprocess.run(
            [sys.executable, "-c", script],
            env={**exports, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        seen["child"] = child
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "synth_template", lambda: template)
    monkeypatch.setattr(demo, "block_until_interrupted", another_shell_then_ctrl_c)
    code = cli.main(
        [
            "run",
            "--years",
            "1979-1980",
            "--test-year",
            "1981",
            "--keep-endpoints",
            "--out",
            str(tmp_path),
            "--input",
            '{"instanceCount": 2, "topEventCodes": 20, "hyperParameters": {"epochs": "1"}}',
        ]
    )
    assert code == 0
    child = seen["child"]
    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads(child.stdout)
    assert [name.rsplit("-", 1)[1] for name in result["names"]] == ["replicated", "sharded"]
    assert all(isinstance(score, float) for score in result["scores"])
    assert result["report"] > 0
    assert "shutting down the local endpoints" in capsys.readouterr().out
