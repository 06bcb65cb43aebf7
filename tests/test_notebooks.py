"""The notebooks, executed headless against a local-mode run, and their helper module on its own."""

from __future__ import annotations

import io
import json
import os
import struct
import sys
from pathlib import Path
from typing import Any

import boto3
import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from lambdas.lambda_common import recordio
from local.runner import LocalShardlab
from stacks.paths import NOTEBOOK_ROOT

sys.path.insert(0, str(NOTEBOOK_ROOT))
import shardlab_notebook as lab

NOTEBOOKS = ("explore", "evaluate")
RUN_INPUT = {
    "trainYears": [1979, 1980, 1981],
    "testYear": 1982,
    "instanceCount": 3,
    "keepEndpoints": True,
    "hyperParameters": {"epochs": "1"},
}
EXPECTED_PLOTS = {
    "explore": {"event_codes", "histograms", "actor_locations", "geo_filter", "top_code_coverage"},
    "evaluate": {"training_cost", "validation_metrics", "predicted_vs_actual", "error_distributions"},
}
SWEEP_EPOCHS = ("1", "2")  # the notebook run's instanceCount (3) x these: two points
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def kernel_spec(folder: Path) -> str:
    """A kernel spec for this interpreter (the project venv), found through JUPYTER_PATH."""
    name = "shardlab-test-python"
    spec_dir = folder / "kernels" / name
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "shardlab test", "language": "python",
    }))
    return name


@pytest.fixture(scope="module")
def executed(template: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One small local run (endpoints kept), then both notebooks executed against it from a kernel process."""
    tmp = tmp_path_factory.mktemp("notebooks")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("JUPYTER_PATH", str(tmp / "jupyter"))
    kernel_name = kernel_spec(tmp / "jupyter")
    try:
        with LocalShardlab(template, serve_aws=True) as local:
            description = local.run(RUN_INPUT, name="notebook-test", timeout_seconds=300)
            assert description["status"] == "SUCCEEDED", description.get("cause")
            run_id = json.loads(description["output"])["summary"]["runId"]
            output = tmp / "out" / "notebook-test"
            environment = {
                **os.environ,
                **local.client_environment(),
                "SHARDLAB_OUTPUT_DIR": str(output),
                "SHARDLAB_STATE_MACHINE_ARN": local.state_machine_arn,  # stack.json's stateMachineArn on AWS
                "MPLBACKEND": "agg",
            }
            environment.pop("SHARDLAB_RUN_ID", None)  # the notebooks must find the newest run themselves

            def execute(name: str, out: Path, **extra: str) -> Any:
                notebook = nbformat.read(NOTEBOOK_ROOT / f"{name}.ipynb", as_version=4)
                client = NotebookClient(
                    notebook, kernel_name=kernel_name, timeout=120, allow_errors=False,
                    resources={"metadata": {"path": str(NOTEBOOK_ROOT)}},
                )
                client.execute(env={**environment, "SHARDLAB_OUTPUT_DIR": str(out), **extra})  # a cell error raises
                nbformat.write(notebook, out / f"{name}.executed.ipynb")
                return notebook

            results = {name: execute(name, output) for name in NOTEBOOKS}
            # A default run (keepEndpoints false) deletes its endpoints: evaluate must still run to the end.
            sagemaker = boto3.client("sagemaker")
            for endpoint in sagemaker.list_endpoints()["Endpoints"]:
                sagemaker.delete_endpoint(EndpointName=endpoint["EndpointName"])
            without_endpoints = tmp / "out" / "notebook-test-without-endpoints"
            results["evaluate-without-endpoints"] = execute("evaluate", without_endpoints)
            report = json.loads(local.read_object(f"runs/{run_id}/report.json"))
            # A sweep's report, from point reports of this run's jobs (scored by transform, as a sweep's are)
            sweep_report = write_sweep(local.deployment.bucket_name, report)
            sweep_output = tmp / "out" / "notebook-sweep"
            results["evaluate-sweep"] = execute("evaluate", sweep_output, SHARDLAB_RUN_ID=sweep_report["runId"])
            yield {"run_id": run_id, "output": output, "notebooks": results, "without_endpoints": without_endpoints,
                   "report": report, "sweep_output": sweep_output, "sweep_report": sweep_report}
    finally:
        monkeypatch.undo()


def sweep_point_reports(report: dict[str, Any], run_id: str, prefix: str) -> tuple[dict[str, Any], list[Any]]:
    """A sweep config over SWEEP_EPOCHS at the run's instance count, and its points' compare reports: the run's
    report with the sweep's run id, scored by batch transform (no endpoints), the second point trained longer
    (half the speed, a lower MSE for ShardedByS3Key)."""
    count = report["models"]["sharded"]["training"]["instanceCount"]
    points, reports = [], []
    for index, epochs in enumerate(SWEEP_EPOCHS, start=1):
        point = {"point": f"p{index:02d}", "instanceCount": count, "hyperParameters": {"epochs": epochs},
                 "config": {"instanceCount": count, "names": {b: f"x-p{index:02d}-{b}" for b in lab.BRANCHES},
                            "runPrefix": f"{prefix}points/p{index:02d}/"}}
        point_report = json.loads(json.dumps(report))
        point_report["runId"] = run_id
        for model in point_report["models"].values():
            model["transformJobName"] = model.pop("endpointName")
            model["training"]["trainingTimeInSeconds"] *= index
        point_report["models"]["sharded"]["test"]["mse"] *= 1.0 - 0.05 * (index - 1)
        points.append(point)
        reports.append(point_report)
    return {"grid": {"instanceCount": [count], "hyperParameters": {"epochs": list(SWEEP_EPOCHS)}},
            "points": points}, reports


def write_sweep(bucket: str, report: dict[str, Any]) -> dict[str, Any]:
    """The sweep report of `sweep_point_reports`, written by the sweep report step into the local bucket."""
    from lambdas.compare.sweep import run_sweep_report
    from lambdas.lambda_common.contracts import SweepReportEvent

    run_id = "notebook-sweep-0123abcd"
    prefix = f"runs/{run_id}/"
    sweep, reports = sweep_point_reports(report, run_id, prefix)
    s3 = boto3.client("s3")
    for point, point_report in zip(sweep["points"], reports, strict=True):
        s3.put_object(Bucket=bucket, Key=f"{point['config']['runPrefix']}report.json",
                      Body=json.dumps(point_report).encode())
    event = SweepReportEvent.parse({"bucket": bucket, "runPrefix": prefix, "runId": run_id, "sweep": sweep,
                                    "concurrency": {"points": 2, "concurrency": 2}})
    run_sweep_report(event, s3=s3, clock="simulated")
    return dict(json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}report.json")["Body"].read()))


def _text_outputs(notebook: Any) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.extend(str(value) for key, value in output.get("data", {}).items() if key.startswith("text/"))
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_plot_is_saved_as_a_real_picture(executed: dict[str, Any], name: str) -> None:
    folder = executed["output"] / name
    saved = {path.stem: path for path in folder.glob("*.png")}
    assert set(saved) == EXPECTED_PLOTS[name]
    for path in saved.values():
        blob = path.read_bytes()
        assert blob.startswith(PNG_SIGNATURE)
        width, height = struct.unpack(">II", blob[16:24])  # IHDR
        assert width > 300 and height > 200, path
        assert len(blob) > 15_000, f"{path} is too small to hold a drawn plot"


@pytest.mark.slow
def test_explore_follows_the_run(executed: dict[str, Any]) -> None:
    text = _text_outputs(executed["notebooks"]["explore"])
    assert f"run {executed['run_id']}: years [1979, 1980, 1981, 1982]" in text
    assert "The run's dataset uses the same codes." in text
    assert "Use conventional military force" in text  # CAMEO 190, the sample's top code
    assert "(not in the bundled CAMEO lookup)" not in text


@pytest.mark.slow
def test_evaluate_predictions_agree_with_the_report_and_state_a_verdict(executed: dict[str, Any]) -> None:
    text = _text_outputs(executed["notebooks"]["evaluate"])
    assert text.count("MSE matches the report's") == 2
    assert "DIFFERS" not in text
    assert lab.verdict_in_words(executed["report"]) in text
    assert "endpoints of this run are gone" not in text
    # the state machine's executions, with this run among them
    executions = next(cell for cell in executed["notebooks"]["evaluate"].cells
                      if "lab.recent_executions" in cell.source)
    listed = executions.outputs[0]["data"]["text/html"]
    assert "<td>notebook-test</td>" in listed and "<td>SUCCEEDED</td>" in listed
    assert f"<td>{executed['run_id']}</td>" in listed


@pytest.mark.slow
def test_evaluate_runs_to_the_end_when_the_endpoints_are_gone(executed: dict[str, Any]) -> None:
    text = _text_outputs(executed["notebooks"]["evaluate-without-endpoints"])
    assert "endpoints of this run are gone" in text
    assert lab.verdict_in_words(executed["report"]) in text
    plots = {path.stem for path in (executed["without_endpoints"] / "evaluate").glob("*.png")}
    assert plots == {"training_cost", "validation_metrics"}


@pytest.mark.slow
def test_evaluate_plots_a_sweep_then_its_recommended_point(executed: dict[str, Any]) -> None:
    sweep = executed["sweep_report"]
    text = _text_outputs(executed["notebooks"]["evaluate-sweep"])
    assert sweep["recommendation"] in text and "Not a sweep" not in text
    assert f"Below: the recommended point {sweep['recommended']['point']}'s own report" in text
    assert "scored the test year by batch transform (no endpoints)" in text
    assert "ShardedByS3Key" in sweep["recommendation"]  # the second point's sharded MSE is 5% lower
    plots = {path.stem: path for path in (executed["sweep_output"] / "evaluate").glob("*.png")}
    assert set(plots) == {"sweep", "training_cost", "validation_metrics"}
    blob = plots["sweep"].read_bytes()
    width, height = struct.unpack(">II", blob[16:24])
    assert blob.startswith(PNG_SIGNATURE) and width > 1000 and height > 300 and len(blob) > 30_000
    table = next(output for cell in executed["notebooks"]["evaluate-sweep"].cells if "lab.sweep_table" in cell.source
                 for output in cell.outputs if "text/html" in output.get("data", {}))
    assert table["data"]["text/html"].count("</tr>") == 1 + 2 * len(SWEEP_EPOCHS)  # the header and every row


def test_the_sweep_helpers_read_and_plot_a_sweep_report(monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    matplotlib.use("agg")
    from matplotlib.figure import Figure
    from moto_helpers import mocked_s3
    from sweep_helpers import BUCKET, CONCURRENCY, put_point_reports, run_config

    from lambdas.compare import sweep
    from lambdas.lambda_common.contracts import SweepReportEvent

    assert lab.SWEEP_KIND == sweep.SWEEP_KIND
    config = run_config()
    with mocked_s3(monkeypatch, BUCKET) as s3:
        put_point_reports(s3, config)
        sweep.run_sweep_report(SweepReportEvent.for_run(config, concurrency=CONCURRENCY), s3=s3)
        report = lab.read_report(s3, BUCKET, config["runId"])
        point = lab.recommended_point_report(s3, report)
    assert lab.is_sweep(report) and not lab.is_sweep(point)
    assert point["models"]["sharded"]["training"]["instanceCount"] == report["recommended"]["instanceCount"] == 2
    table = lab.sweep_table(report)
    assert len(table) == 12 and table["recommended"].sum() == 1
    chosen = table[table["recommended"]].iloc[0]
    assert (chosen["point"], chosen["type"], chosen["epochs"], chosen["test MSE"]) == (
        "p04", "ShardedByS3Key", "4", 4.92)
    assert list(table.loc[table["Pareto"], "point"]) == ["p01", "p01", "p02", "p02", "p03", "p04"]
    figure = Figure()
    axes = figure.subplots(1, 3)
    lab.plot_sweep(report, axes)
    speed, epochs, cost = axes
    lines = {line.get_label(): line for line in speed.get_lines()}
    assert list(lines["ShardedByS3Key"].get_xdata()) == [1, 2, 4]
    assert list(lines["ideal linear"].get_ydata()) == [1.0, 2.0, 4.0]
    mse = {line.get_label(): list(line.get_ydata()) for line in epochs.get_lines()}
    assert mse == {"FullyReplicated": [5.0, 4.9], "ShardedByS3Key": [5.2, 4.97]}
    frontier = next(line for line in cost.get_lines() if line.get_label() == "Pareto frontier")
    assert list(frontier.get_ydata()) == [entry["testMse"] for entry in report["pareto"]]


def test_notebooks_name_a_kernel_the_notebook_instance_platform_has() -> None:
    from stacks.notebook import PLATFORM_IDENTIFIER, PLATFORM_KERNELS

    for name in NOTEBOOKS:
        kernelspec = nbformat.read(NOTEBOOK_ROOT / f"{name}.ipynb", as_version=4).metadata["kernelspec"]
        assert kernelspec["name"] in PLATFORM_KERNELS[PLATFORM_IDENTIFIER], name
        assert kernelspec["language"] == "python"


def test_committed_notebooks_have_no_outputs() -> None:
    for name in NOTEBOOKS:
        notebook = nbformat.read(NOTEBOOK_ROOT / f"{name}.ipynb", as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, name


# --- the helper module --------------------------------------------------------------------------------------


def test_recordio_decoder_matches_the_pipeline_writer() -> None:
    rng = np.random.default_rng(7)
    features = rng.normal(size=(17, 25)).astype(np.float32)
    labels = rng.normal(size=17).astype(np.float32)
    blob = b"".join(recordio.encode_record(row.tolist(), float(label)) for row, label in zip(features, labels,
                                                                                              strict=True))
    decoded_features, decoded_labels = lab.read_dense_recordio(blob, 25)
    np.testing.assert_array_equal(decoded_features, features)
    np.testing.assert_array_equal(decoded_labels, labels)
    with pytest.raises(ValueError, match="whole number"):
        lab.read_dense_recordio(blob, 24)
    stride = len(blob) // 17
    corrupted = bytearray(blob)
    corrupted[3 * stride] ^= 0xFF  # record 3's magic number
    with pytest.raises(ValueError, match="record 3 is not"):
        lab.read_dense_recordio(bytes(corrupted), 25)


@pytest.mark.parametrize(("rows", "max_bytes"), [(100, 400), (25_003, 60_000)])  # the second crosses blocks
def test_csv_batches_stay_under_the_limit_and_keep_every_row(rows: int, max_bytes: int) -> None:
    features = np.arange(3 * rows, dtype=np.float32).reshape(rows, 3) / 7
    batches = list(lab.csv_batches(features, max_bytes=max_bytes))
    assert len(batches) > 1 and all(len(body) <= max_bytes for body in batches)
    rows = [line for body in batches for line in body.split(b"\n")]
    np.testing.assert_allclose(np.loadtxt(io.BytesIO(b"\n".join(rows)), delimiter=","), features, rtol=1e-6)


def test_year_files_are_read_without_losing_the_first_row() -> None:
    from moto import mock_aws

    sample = Path(__file__).resolve().parents[1] / "data" / "gdelt" / "events" / "1979.csv"
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="gdelt-open-data")
        s3.upload_file(str(sample), "gdelt-open-data", "events/1979.csv")
        frame = lab.read_year(s3, "gdelt-open-data", "events/", 1979)
    lines = sample.read_bytes().decode().splitlines()
    assert len(frame) == len(lines)
    first = lines[0].split("\t")
    assert frame["EventCode"].iloc[0] == first[26] == "040"  # text, leading zero kept
    assert frame["AvgTone"].iloc[0] == pytest.approx(float(first[34]))
    assert list(frame.columns) == list(lab.MODEL_COLUMNS)


def test_top_codes_rank_like_the_pipeline() -> None:
    import pandas as pd

    from lambdas.dataprep.pipeline import top_event_codes

    codes = pd.DataFrame({"EventCode": ["190", "173", "173", "010", "10", "190", "042", "042", "043"]})
    expected = top_event_codes({code.encode(): int(n) for code, n in codes["EventCode"].value_counts().items()}, 3)
    assert sorted(lab.top_event_codes(codes, 3)) == sorted(expected) == ["042", "173", "190"]


def test_defaults_come_from_the_environment_then_stack_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHARDLAB_BUCKET", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(lab.NotebookSetupError, match="SHARDLAB_BUCKET"):
        lab.default_bucket(None)
    (tmp_path / "stack.json").write_text(json.dumps({"bucket": "from-stack-json", "region": "eu-west-1"}))
    assert lab.stack_settings((tmp_path,))["bucket"] == "from-stack-json"
    assert lab.default_bucket(None) == "from-stack-json"
    monkeypatch.setenv("SHARDLAB_BUCKET", "from-env")
    assert lab.default_bucket(None) == "from-env"
    assert lab.default_bucket("explicit") == "explicit"


def test_the_notebook_instance_gets_the_notebooks_their_helper_and_the_stack_names(
    assembly: Any, template: dict[str, Any]
) -> None:
    shipped = [folder for folder in assembly.directory.glob("asset.*") if (folder / "explore.ipynb").is_file()]
    assert len(shipped) == 1
    files = {path.relative_to(shipped[0]).as_posix() for path in shipped[0].rglob("*") if path.is_file()}
    assert files == {"explore.ipynb", "evaluate.ipynb", "shardlab_notebook.py", "cameo_event_codes.csv"}
    (config,) = [r for r in template["Resources"].values()
                 if r["Type"] == "AWS::SageMaker::NotebookInstanceLifecycleConfig"]
    script, variables = config["Properties"]["OnStart"][0]["Content"]["Fn::Base64"]["Fn::Sub"]
    asset_hash = shipped[0].name.removeprefix("asset.")
    assert f"{asset_hash}.zip" in json.dumps(variables["NotebooksUri"])
    # stack.json, which shardlab_notebook.stack_settings reads, sits in the folder the notebooks are unzipped to
    assert '$PROJECT_DIR/stack.json' in script and "/tmp/shardlab-notebooks.zip $PROJECT_DIR <<'PY'" in script
    assert '"bucket": "${Bucket}"' in script and set(variables["Bucket"]) == {"Ref"}
    assert '"stateMachineArn": "${StateMachineArn}"' in script and set(variables["StateMachineArn"]) == {"Ref"}
    (role_policy,) = [r for r in template["Resources"].values()
                      if r["Type"] == "AWS::IAM::Policy" and "NotebookRole" in json.dumps(r["Properties"]["Roles"])]
    statements = {s.get("Sid"): s for s in role_policy["Properties"]["PolicyDocument"]["Statement"]}
    assert statements["CopyNotebooks"]["Action"] == "s3:GetObject"
    assert f"{asset_hash}.zip" in json.dumps(statements["CopyNotebooks"]["Resource"])
    assert statements["CopyNotebooks"]["Condition"] == {
        "StringEquals": {"s3:ResourceAccount": {"Ref": "AWS::AccountId"}}}
    assert sorted(statements["DescribeRunResources"]["Action"]) == ["sagemaker:DescribeEndpoint",
                                                                      "sagemaker:DescribeTrainingJob"]


def _report(times: tuple[int, int], mses: tuple[float, float], baseline_mse: float) -> dict[str, Any]:
    def model(seconds: int, mse: float) -> dict[str, Any]:
        return {"training": {"trainingTimeInSeconds": seconds, "billableInstanceSeconds": seconds * 5},
                "test": {"mse": mse}}

    return {"models": {"replicated": model(times[0], mses[0]), "sharded": model(times[1], mses[1])},
            "baseline": {"test": {"mse": baseline_mse}}}


@pytest.mark.parametrize(
    ("times", "mses", "baseline_mse", "expected"),
    [
        ((400, 100), (5.05, 5.06), 7.0, ["ShardedByS3Key trained 4.0x faster than FullyReplicated (100 s sharded",
                                         "ShardedByS3Key billed fewer instance-seconds (500 sharded vs 2000",
                                         "within 1% of each other", "Both beat the naive baseline",
                                         "Sharding saved time at no visible cost in accuracy."]),
        ((400, 100), (5.0, 5.5), 5.2, ["sharded MSE 5.5 is 10.0% higher than replicated 5",
                                       "Only FullyReplicated beats the naive baseline",
                                       "whether that is worth the accuracy change"]),
        ((90, 120), (5.5, 5.0), 4.0, ["FullyReplicated trained 1.3x faster than ShardedByS3Key",
                                      "FullyReplicated billed fewer", "ShardedByS3Key fits the test year better",
                                      "Neither beats", "Sharding did not save training time"]),
        ((60, 60), (5.0, 5.0), 6.0, ["Both jobs trained for 60 s.", "Both billed 300 instance-seconds."]),
    ],
)
def test_verdict_in_words_follows_the_numbers(times: tuple[int, int], mses: tuple[float, float],
                                              baseline_mse: float, expected: list[str]) -> None:
    verdict = lab.verdict_in_words(_report(times, mses, baseline_mse))
    for phrase in expected:
        assert phrase in verdict, verdict
