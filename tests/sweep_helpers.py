"""Hand-made sweep point reports, each built by the compare step's own report and cost functions (for
tests/test_sweep_report.py and the notebook tests)."""

from __future__ import annotations

import datetime
import json
from typing import Any

from lambdas.compare.cost import priced_run_cost
from lambdas.compare.report import REPORT_FORMAT, comparison_figures
from lambdas.compare.training import TrainingFigures
from lambdas.lambda_common.pricing import TRAINING, TRANSFORM, look_up_prices
from lambdas.lambda_common.vocabulary import BRANCHES, DISTRIBUTION_TYPES, REPLICATED, SHARDED
from lambdas.workflow_input.config import build_config

BUCKET = "shardlab-sweep-bucket"
START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
TRAINING_TYPE, TRANSFORM_TYPE = "ml.c5.2xlarge", "ml.m5.xlarge"

# The grid instanceCount [1, 2, 4] x epochs [2, 4] (points p01..p06, instanceCount outermost). FullyReplicated
# trains as long on any count; ShardedByS3Key a little faster than 1/n; MSEs chosen so the answer is known:
# the cheapest candidate within 1% of the best MSE (4.90) is ShardedByS3Key on 2 instances with 4 epochs.
INSTANCES, EPOCHS = (1, 2, 4), ("2", "4")
SECONDS = {(REPLICATED, 1, "2"): 400, (REPLICATED, 2, "2"): 400, (REPLICATED, 4, "2"): 400,
           (REPLICATED, 1, "4"): 800, (REPLICATED, 2, "4"): 800, (REPLICATED, 4, "4"): 800,
           (SHARDED, 1, "2"): 400, (SHARDED, 2, "2"): 190, (SHARDED, 4, "2"): 95,
           (SHARDED, 1, "4"): 800, (SHARDED, 2, "4"): 380, (SHARDED, 4, "4"): 190}
MSE = {(REPLICATED, 1, "2"): 5.0, (REPLICATED, 2, "2"): 5.0, (REPLICATED, 4, "2"): 5.0,
       (REPLICATED, 1, "4"): 4.9, (REPLICATED, 2, "4"): 4.9, (REPLICATED, 4, "4"): 4.9,
       (SHARDED, 1, "2"): 5.0, (SHARDED, 2, "2"): 5.1, (SHARDED, 4, "2"): 5.2,
       (SHARDED, 1, "4"): 4.9, (SHARDED, 2, "4"): 4.92, (SHARDED, 4, "4"): 4.97}


def run_config(**raw: Any) -> dict[str, Any]:
    config = build_config({"trainYears": [1979, 1980, 1981], "testYear": 1982, "scoring": "transform", **raw},
                          execution_name="sweep-test", start_time="2026-01-01T00:00:00Z", bucket=BUCKET,
                          resource_prefix="shardlab")
    points = [
        {"point": f"p{index:02d}", "instanceCount": count, "hyperParameters": {"epochs": epochs},
         "config": {"instanceCount": count,
                    "names": {branch: f"shardlab-sweep-test-p{index:02d}-{branch}" for branch in BRANCHES},
                    "runPrefix": f"{config['runPrefix']}points/p{index:02d}/"}}
        for index, (count, epochs) in enumerate(((n, e) for n in INSTANCES for e in EPOCHS), start=1)
    ]
    config["sweep"] = {"grid": {"instanceCount": list(INSTANCES), "hyperParameters": {"epochs": list(EPOCHS)}},
                       "points": points}
    return config


def point_report(config: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
    """What the compare step writes for one point (its models' training and cost by the step's own functions)."""
    count, epochs = point["instanceCount"], point["hyperParameters"]["epochs"]
    names = point["config"]["names"]
    training = {branch: TrainingFigures(
        job_name=names[branch], training_seconds=SECONDS[branch, count, epochs],
        billable_seconds=SECONDS[branch, count, epochs], instance_count=count, instance_type=TRAINING_TYPE,
        distribution_type=DISTRIBUTION_TYPES[branch], spot=False, final_metrics={}) for branch in BRANCHES}
    transforms = {branch: {"TransformJobName": names[branch], "TransformStartTime": START,
                           "TransformEndTime": START + datetime.timedelta(seconds=60),
                           "TransformResources": {"InstanceType": TRANSFORM_TYPE, "InstanceCount": 1}}
                  for branch in BRANCHES}
    sheet = look_up_prices(None, "us-east-1", [(TRAINING, TRAINING_TYPE), (TRANSFORM, TRANSFORM_TYPE)])
    models = {branch: {
        "distributionType": DISTRIBUTION_TYPES[branch], "trainingJobName": names[branch],
        "transformJobName": names[branch], "training": training[branch].as_report(),
        "test": {"rows": 1000, "mse": MSE[branch, count, epochs], "rmse": MSE[branch, count, epochs] ** 0.5,
                 "mae": 1.7, "medianAbsoluteError": 1.4, "r2": 0.2}} for branch in BRANCHES}
    return {
        "format": REPORT_FORMAT, "runId": config["runId"], "generatedAt": START.isoformat(),
        "parameters": {**config, **point["config"]},  # the state machine merges the point's config over $.config
        "models": models, "comparison": comparison_figures(models),
        "cost": priced_run_cost(sheet, training=training, endpoints={}, hosting_types={}, projection=None,
                                until=START, transforms=transforms),
    }


def put_point_reports(s3: Any, config: dict[str, Any], *, skip: str = "") -> None:
    for point in config["sweep"]["points"]:
        if point["point"] != skip:
            s3.put_object(Bucket=BUCKET, Key=f"{point['config']['runPrefix']}report.json",
                          Body=json.dumps(point_report(config, point)).encode())


CONCURRENCY = {"points": 6, "concurrency": 2, "limitedBy": "ml.c5.2xlarge for training job usage",
               "note": "runs 2 of 6 points at once: ml.c5.2xlarge for training job usage is 10"}


