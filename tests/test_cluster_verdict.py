"""The verdict follows the data through the documented cluster model (local/linear_learner/cluster_time.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lambdas.compare.report import comparison_figures, verdict
from lambdas.workflow_input.schema import BASE_HYPERPARAMETERS
from local import linear_learner as ll
from local.channels import S3Object, Shard, assign_objects
from local.sagemaker.training_job import UPLOADING_SECONDS

HYPERPARAMETERS = {**BASE_HYPERPARAMETERS, "feature_dim": "25"}  # the workshop's settings


def objects(count: int, rows: int) -> list[Shard]:
    rng = np.random.default_rng(count * rows)
    shards = []
    for index in range(count):
        x = rng.normal(size=(rows, 25)).astype(np.float32)
        y = (x[:, 0] * 2 + rng.normal(size=rows)).astype(np.float32)
        shards.append(Shard(f"train/{1979 + index}.data", x, y, rows * 144))
    return shards


def job(shards: list[Shard], hosts: int, distribution: str) -> dict[str, object]:
    """A report's model entry from a simulated job, timed as the local control plane reports it."""
    by_key = {s.key: s for s in shards}
    listing = [S3Object(s.key, s.size) for s in shards]
    assigned = [[by_key[o.key] for o in host] for host in assign_objects(listing, hosts, distribution)]
    result = ll.train(ll.parse_hyperparameters(HYPERPARAMETERS), assigned, shards[:1], shards[:1], seed=1)
    seconds = max(math.ceil(result.simulated_seconds + UPLOADING_SECONDS), 1)
    return {
        "training": {"trainingTimeInSeconds": seconds, "billableInstanceSeconds": seconds * hosts},
        "test": {"mse": result.metrics["test:mse"]},
    }


def report_of(shards: list[Shard], hosts: int) -> dict[str, object]:
    models = {"replicated": job(shards, hosts, "FullyReplicated"), "sharded": job(shards, hosts, "ShardedByS3Key")}
    return {"models": models, "comparison": comparison_figures(models)}


def test_equal_work_per_host_means_about_the_same_time() -> None:
    report = report_of(objects(5, 4000), hosts=1)  # one host reads every object either way
    assert report["comparison"]["trainingSpeedUp"] == 1.0
    assert "trained in about the same time as FullyReplicated" in verdict(report)


def test_sharding_five_ways_trains_faster_and_the_gain_grows_with_the_data() -> None:
    small, large = report_of(objects(5, 10_000), hosts=5), report_of(objects(5, 40_000), hosts=5)
    small_speed_up, large_speed_up = small["comparison"]["trainingSpeedUp"], large["comparison"]["trainingSpeedUp"]
    assert 1 < small_speed_up < large_speed_up < 5  # fixed costs (setup, upload) are shared; steps split 5 ways
    assert verdict(large).startswith(f"ShardedByS3Key trained {large_speed_up:.1f}x faster than FullyReplicated")


def test_the_model_gives_the_workshops_almost_4x_on_full_size_data() -> None:
    """The fitted constant, checked without training: full-size per-host rows (the --scale full run's), 2 epochs."""
    cluster = ll.ClusterModel()
    train_rows, validation_rows, hosts, epochs = 1_428_248, 158_694, 5, 2

    def seconds(rows_per_host: int, download_rows: int) -> float:
        steps = epochs * math.ceil(rows_per_host / 500)
        step = cluster.batch_seconds(500, 25, 32, 8) + cluster.sync_seconds_per_step
        evaluation = epochs * cluster.batch_seconds(validation_rows, 25, 32, 8) / 2
        download = (download_rows + validation_rows) * 144 / cluster.download_bytes_per_second
        return cluster.setup_seconds + download + steps * step + evaluation + UPLOADING_SECONDS

    ratio = seconds(train_rows, train_rows) / seconds(train_rows // hosts, train_rows // hosts)
    assert ratio == pytest.approx(3.8, abs=0.15)
