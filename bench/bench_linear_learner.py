"""Benchmark: local Linear Learner fidelity, throughput, and simulated cluster time (issue 5).

Data goes through the project's real preparation path: raw GDELT year files → ``lambdas.dataprep.pipeline``
(``profile_year`` on the first training year, ``shard_year`` per year) in an in-process moto S3 → the dense
recordIO-protobuf objects the training jobs read. Two datasets:

- ``sample``: the bundled real GDELT sample (``data/gdelt/events/1979-1984.csv``), train 1979-1983, test 1984.
- ``full``: one generated full-size year per training year and for the test year (``data/scale_up.py``,
  430,941 rows each, the real 1979 file's size; rows resampled from the bundled real rows).

Measured, each against a named baseline run in this script:
1. Fidelity: test-year MAE of the local model (workshop hyperparameters: absolute_loss, 32 models,
   mini_batch_size 500; epochs 2 as in the workshop and more) vs the exact least-absolute-deviation fit,
   scikit-learn ``QuantileRegressor(quantile=0.5, alpha=0, solver="highs")`` on the same training rows.
2. Throughput: rows × models per second of the local trainer (32 models at once, one host) vs scikit-learn
   ``SGDRegressor`` fitting the same 32 (learning rate, wd, l1) configurations one after another
   (epsilon-insensitive loss with epsilon 0 = absolute loss, standardized features, same epochs).
3. Simulated cluster training time of FullyReplicated vs ShardedByS3Key on 5 × ml.c5.2xlarge (the workshop's
   setup), with the ratio; local wall times alongside.

Usage: ``python bench/bench_linear_learner.py [--full-rows 430941] [--skip-full] [--lad-max-rows N]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "data")]

from lambdas.dataprep.pipeline import profile_year, shard_year  # noqa: E402
from lambdas.lambda_common.vocabulary import FULLY_REPLICATED, SHARDED_BY_S3_KEY  # noqa: E402
from local import channels as ch  # noqa: E402
from local import linear_learner as ll  # noqa: E402

SOURCE_BUCKET = "gdelt-open-data"
BUCKET = "bench-bucket"
PREFIX = "datasets/bench/"
TRAIN_YEARS = list(range(1979, 1984))
TEST_YEAR = 1984
WORKSHOP_HP = {
    "feature_dim": "25",
    "mini_batch_size": "500",
    "predictor_type": "regressor",
    "epochs": "2",
    "num_models": "32",
    "loss": "absolute_loss",
}
INSTANCE_TYPE = "ml.c5.2xlarge"
HOSTS = 5


def prepare(s3: Any, source_files: dict[int, Path], dataset: str) -> dict[str, list[ch.Shard]]:
    """Raw year files → dataprep → recordIO objects in S3 → shards per channel."""
    prefix = f"{PREFIX}{dataset}/"
    for year, path in source_files.items():
        s3.upload_file(str(path), SOURCE_BUCKET, f"events/{year}.csv")
    common = {"sourceBucket": SOURCE_BUCKET, "sourcePrefix": "events/", "bucket": BUCKET, "datasetPrefix": prefix}
    profile = profile_year(s3, {**common, "year": TRAIN_YEARS[0], "topEventCodes": 20, "maxBadRowFraction": 0.01})
    for year in [*TRAIN_YEARS, TEST_YEAR]:
        shard_year(
            s3,
            {
                **common,
                "year": year,
                "role": "test" if year == TEST_YEAR else "train",
                "instanceCount": HOSTS,  # train rows dealt into one part per host, as the pipeline does
                "eventCodes": profile["eventCodes"],
                "seed": 1729,
                "trainFraction": 0.9,
                "maxBadRowFraction": 0.01,
            },
        )
    channels: dict[str, list[ch.Shard]] = {}
    for channel in ("train", "validation", "test"):
        objects = ch.list_channel_objects(s3, f"s3://{BUCKET}/{prefix}{channel}/")
        shards = ch.read_objects(s3, BUCKET, objects, None)
        channels[channel] = [shards[o.key] for o in objects]
    return channels


def stacked(shards: list[ch.Shard]) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([s.features for s in shards]).astype(np.float64)
    y = np.concatenate([s.labels for s in shards if s.labels is not None]).astype(np.float64)
    return x, y


def lad_mae(train: list[ch.Shard], test: list[ch.Shard], max_rows: int) -> tuple[float, float, int]:
    from sklearn.linear_model import QuantileRegressor

    x, y = stacked(train)
    if x.shape[0] > max_rows:
        pick = np.random.default_rng(0).choice(x.shape[0], max_rows, replace=False)
        x, y = x[pick], y[pick]
    started = time.perf_counter()
    fit = QuantileRegressor(quantile=0.5, alpha=0, solver="highs").fit(x, y)
    seconds = time.perf_counter() - started
    tx, ty = stacked(test)
    return float(np.mean(np.abs(fit.predict(tx) - ty))), seconds, int(x.shape[0])


def local_fit(
    channels: dict[str, list[ch.Shard]], distribution: str, hosts: int, **overrides: str
) -> ll.TrainingResult:
    params = ll.parse_hyperparameters({**WORKSHOP_HP, **overrides})
    objects = [ch.S3Object(s.key, s.size) for s in channels["train"]]
    by_key = {s.key: s for s in channels["train"]}
    host_shards = [[by_key[o.key] for o in host] for host in ch.assign_objects(objects, hosts, distribution)]
    return ll.train(
        params, host_shards, channels["validation"], channels["test"], instance_type=INSTANCE_TYPE, seed=1729
    )


def sgd_baseline(channels: dict[str, list[ch.Shard]], epochs: int) -> tuple[float, float]:
    """Seconds for SGDRegressor to fit the 32 configurations one after another; best test MAE among them."""
    from sklearn.linear_model import SGDRegressor
    from sklearn.preprocessing import StandardScaler

    x, y = stacked(channels["train"])
    tx, ty = stacked(channels["test"])
    scaler = StandardScaler().fit(x)
    xs, txs = scaler.transform(x), scaler.transform(tx)
    lr, wd, l1 = ll.model_grid(ll.parse_hyperparameters(WORKSHOP_HP))
    best = np.inf
    started = time.perf_counter()
    for rate, l2, l1_value in zip(lr, wd, l1, strict=True):
        alpha = l2 + l1_value
        model = SGDRegressor(
            loss="epsilon_insensitive",
            epsilon=0.0,
            penalty="elasticnet",
            alpha=alpha,
            l1_ratio=(l1_value / alpha) if alpha else 0.0,
            learning_rate="constant",
            eta0=rate,
            max_iter=epochs,
            tol=None,
            shuffle=True,
            random_state=0,
        )
        model.fit(xs, y)
        best = min(best, float(np.mean(np.abs(model.predict(txs) - ty))))
    return time.perf_counter() - started, best


def report_dataset(name: str, channels: dict[str, list[ch.Shard]], lad_max_rows: int) -> None:
    train_rows = sum(s.features.shape[0] for s in channels["train"])
    test_rows = sum(s.features.shape[0] for s in channels["test"])
    train_bytes = sum(s.size for s in channels["train"])
    print(
        f"\n== {name}: {train_rows} train rows in {len(channels['train'])} objects ({train_bytes / 1e6:.1f} MB), "
        f"{sum(s.features.shape[0] for s in channels['validation'])} validation, {test_rows} test"
    )

    lad, lad_seconds, lad_rows = lad_mae(channels["train"], channels["test"], lad_max_rows)
    sampled = "" if lad_rows == train_rows else f" (fit on a random {lad_rows} of the train rows)"
    print(f"LAD baseline QuantileRegressor(highs): test MAE {lad:.4f} in {lad_seconds:.1f}s{sampled}")
    print("fidelity (local test MAE / LAD test MAE; target <= 1.02):")
    for epochs in ("2", "5", "15"):
        for distribution, hosts in ((FULLY_REPLICATED, 1), (FULLY_REPLICATED, HOSTS), (SHARDED_BY_S3_KEY, HOSTS)):
            result = local_fit(channels, distribution, hosts, epochs=epochs, early_stopping_patience="100")
            mae = result.metrics["test:absolute_loss"]
            print(
                f"  epochs={epochs:>2} {distribution:<15} x{hosts}: test MAE {mae:.4f}  ratio {mae / lad:.4f}  "
                f"(selected lr {result.selected_model['learningRate']:.4g}, wall {result.wall_seconds:.2f}s)"
            )

    epochs = 2
    local = local_fit(channels, FULLY_REPLICATED, 1, epochs=str(epochs))
    row_models = train_rows * local.epochs_run * 32
    sgd_seconds, sgd_best = sgd_baseline(channels, epochs)
    print(f"throughput, rows x models / s ({train_rows} rows x {epochs} epochs x 32 models):")
    print(
        f"  local (32 at once, 1 host): {row_models / local.wall_seconds:,.0f}/s  ({local.wall_seconds:.2f}s, "
        f"test MAE {local.metrics['test:absolute_loss']:.4f})"
    )
    print(
        f"  SGDRegressor x32 in turn  : {row_models / sgd_seconds:,.0f}/s  ({sgd_seconds:.2f}s, best test MAE "
        f"{sgd_best:.4f})"
    )
    print(f"  ratio local / SGDRegressor: {sgd_seconds / local.wall_seconds:.1f}x")

    replicated = local_fit(channels, FULLY_REPLICATED, HOSTS)
    sharded = local_fit(channels, SHARDED_BY_S3_KEY, HOSTS)
    print(f"simulated cluster training time, {HOSTS} x {INSTANCE_TYPE}, workshop hyperparameters:")
    for label, result in ((FULLY_REPLICATED, replicated), (SHARDED_BY_S3_KEY, sharded)):
        parts = ", ".join(f"{k} {v:.1f}s" for k, v in result.simulated_breakdown.items())
        print(
            f"  {label:<15}: {result.simulated_seconds:8.1f}s simulated ({parts}); local wall "
            f"{result.wall_seconds:.2f}s; test MAE {result.metrics['test:absolute_loss']:.4f}; "
            f"rows per host {[h.rows for h in result.hosts]}"
        )
    print(
        f"  ratio FullyReplicated / ShardedByS3Key: {replicated.simulated_seconds / sharded.simulated_seconds:.2f}x"
        f"  (local wall ratio {replicated.wall_seconds / sharded.wall_seconds:.2f}x)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--full-rows", type=int, default=430_941, help="rows per generated year")
    parser.add_argument("--skip-full", action="store_true", help="only the bundled sample")
    parser.add_argument("--lad-max-rows", type=int, default=50_000, help="cap on the rows the LAD LP is fit on")
    args = parser.parse_args(argv)

    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
        os.environ.setdefault(name, value)
    import boto3
    from moto import mock_aws

    with mock_aws(), tempfile.TemporaryDirectory() as scratch:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=SOURCE_BUCKET)
        s3.create_bucket(Bucket=BUCKET)
        sample_dir = ROOT / "data" / "gdelt" / "events"
        sample = {year: sample_dir / f"{year}.csv" for year in [*TRAIN_YEARS, TEST_YEAR]}
        report_dataset("bundled real sample", prepare(s3, sample, "sample"), args.lad_max_rows)
        if not args.skip_full:
            from scale_up import write_year

            started = time.perf_counter()
            generated = {}
            for year in [*TRAIN_YEARS, TEST_YEAR]:
                generated[year] = Path(scratch) / f"{year}.csv"
                write_year(generated[year], args.full_rows, seed=year)
            channels = prepare(s3, generated, "full")
            print(
                f"\n(generated and prepared {len(generated)} years of {args.full_rows} rows in "
                f"{time.perf_counter() - started:.0f}s)"
            )
            report_dataset(f"generated full-size years ({args.full_rows} raw rows each)", channels, args.lad_max_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
