"""Linear Learner on numpy: hyperparameters, learning, data distribution, the fast recordIO reader."""

from __future__ import annotations

import io

import numpy as np
import pytest

from lambdas.lambda_common import recordio
from local import channels
from local import linear_learner as ll
from local.channels import S3Object, Shard
from local.errors import TrainingFailedError, TrainingStoppedError
from local.linear_learner import parse_hyperparameters, train
from local.recordio_np import read_dense

BASE = {"predictor_type": "regressor", "mini_batch_size": "100", "epochs": "10", "num_models": "8"}


def params(**overrides: str) -> ll.LinearLearnerParams:
    return parse_hyperparameters({**BASE, **overrides})


def failure(raw: dict[str, str]) -> str:
    with pytest.raises(TrainingFailedError) as caught:
        parse_hyperparameters(raw)
    assert caught.value.reason.startswith("ClientError: ")
    return caught.value.reason


def linear_data(
    rows: int, weights: np.ndarray, bias: float, seed: int, noise: str = "normal"
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Features on very different scales, as GDELT's (counts, lat/long, one-hot) are.
    x = rng.normal(size=(rows, weights.size)) * np.geomspace(0.5, 60, weights.size) + 3
    error = rng.laplace(scale=0.5, size=rows) if noise == "laplace" else rng.normal(scale=0.1, size=rows)
    return x.astype(np.float32), (x @ weights + bias + error).astype(np.float32)


def shards_of(x: np.ndarray, y: np.ndarray, parts: int, prefix: str = "train") -> list[Shard]:
    return [Shard(f"{prefix}/{i}.data", x[i::parts], y[i::parts], int(x[i::parts].nbytes)) for i in range(parts)]


# ------------------------------------------------------------------------------------------------ hyperparameters


def test_documented_defaults_apply() -> None:
    parsed = parse_hyperparameters({"predictor_type": "regressor"})
    assert (parsed.mini_batch_size, parsed.epochs, parsed.num_point_for_scaler) == (1000, 15, 10_000)
    assert (parsed.early_stopping_patience, parsed.early_stopping_tolerance) == (3, 0.001)
    assert (parsed.effective_loss, parsed.effective_optimizer, parsed.effective_num_models) == (
        "squared_loss",
        "adam",
        32,
    )
    assert parsed.normalize_data and parsed.use_bias and parsed.learning_rate is None


def test_workshop_hyperparameters_parse() -> None:
    parsed = parse_hyperparameters(
        {
            "feature_dim": "25",
            "mini_batch_size": "500",
            "predictor_type": "regressor",
            "epochs": "2",
            "num_models": "32",
            "loss": "absolute_loss",
        }
    )
    assert (parsed.feature_dim, parsed.mini_batch_size, parsed.epochs, parsed.num_models) == (25, 500, 2, 32)
    assert parsed.loss == "absolute_loss"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"predictor_type": "regressor", "learning_rat": "0.1"}, "Additional hyperparameters are not allowed"),
        ({"epochs": "2"}, "predictor_type is required"),
        ({"predictor_type": "regression"}, "predictor_type='regression' is not one of"),
        ({"predictor_type": "binary_classifier"}, "implements the regressor only"),
        ({"predictor_type": "regressor", "loss": "logistic"}, "not valid for predictor_type 'regressor'"),
        ({"predictor_type": "regressor", "epochs": "0"}, "epochs='0' is outside the valid range [1, inf)"),
        ({"predictor_type": "regressor", "epochs": "two"}, "epochs='two' is not an integer"),
        ({"predictor_type": "regressor", "mini_batch_size": "auto"}, "mini_batch_size='auto' is not an integer"),
        ({"predictor_type": "regressor", "learning_rate": "0"}, "learning_rate='0' is outside the valid range (0"),
        ({"predictor_type": "regressor", "learning_rate": "nan"}, "not a finite number"),
        ({"predictor_type": "regressor", "wd": "-1"}, "wd='-1' is outside the valid range [0, inf)"),
        ({"predictor_type": "regressor", "beta_1": "1"}, "beta_1='1' is outside the valid range [0, 1)"),
        ({"predictor_type": "regressor", "quantile": "1.5"}, "quantile='1.5' is outside the valid range (0, 1)"),
        ({"predictor_type": "regressor", "normalize_data": "yes"}, "must be 'true' or 'false'"),
        ({"predictor_type": "regressor", "optimizer": "lbfgs"}, "optimizer='lbfgs' is not one of: auto, sgd"),
        ({"predictor_type": "regressor", "feature_dim": "-3"}, "feature_dim='-3' is outside the valid range"),
        ({"predictor_type": "regressor", "num_classes": "2"}, "num_classes='2' is outside the valid range [3"),
    ],
)
def test_invalid_hyperparameters_fail_with_a_client_error_naming_them(raw: dict[str, str], expected: str) -> None:
    assert expected in failure(raw)


def test_auto_is_accepted_where_documented() -> None:
    parsed = params(learning_rate="auto", wd="auto", l1="auto", num_models="auto", loss="auto", feature_dim="auto")
    assert (parsed.learning_rate, parsed.wd, parsed.l1, parsed.num_models, parsed.feature_dim) == (
        None,
        None,
        None,
        None,
        None,
    )


def test_model_grid_keeps_the_given_values_for_model_zero_and_varies_the_rest() -> None:
    lr, wd, l1 = ll.model_grid(params(learning_rate="0.02", wd="0.001", l1="0", num_models="32"))
    assert (lr[0], wd[0], l1[0]) == (0.02, 0.001, 0.0)
    assert lr.min() == pytest.approx(0.002) and lr.max() == pytest.approx(0.2)
    assert set(wd) == {0.001, 0.0001, 0.01, 0.0}
    assert not l1.any()  # an explicit 0 disables L1 for every model
    assert len({(a, b, c) for a, b, c in zip(lr, wd, l1, strict=True)}) == 32


# ------------------------------------------------------------------------------------------------ learning


def test_recovers_a_known_linear_model_under_squared_loss() -> None:
    weights = np.array([2.0, -1.0, 0.5, 0.05, -0.02])
    x, y = linear_data(6000, weights, bias=4.0, seed=1)
    vx, vy = linear_data(1000, weights, bias=4.0, seed=2)
    epochs: list[ll.EpochProgress] = []
    result = train(
        params(loss="squared_loss", epochs="20", learning_rate="0.02", early_stopping_patience="30"),
        [shards_of(x, y, 1)],
        shards_of(vx, vy, 1, "validation"),
        progress=epochs.append,
    )
    np.testing.assert_allclose(result.model.weights, weights, rtol=0.02, atol=0.005)
    assert result.model.bias == pytest.approx(4.0, abs=0.1)
    assert result.metrics["validation:rmse"] < 0.15
    assert [e.epoch for e in epochs] == list(range(1, 21))
    assert epochs[-1].validation_loss is not None and epochs[-1].validation_loss < epochs[0].validation_loss
    assert result.model.metadata["normalization"]["labelStd"] > 1


def test_absolute_loss_reaches_the_least_absolute_deviation_fit() -> None:
    from sklearn.linear_model import QuantileRegressor

    weights = np.array([1.0, -0.5, 0.2, 0.03])
    x, y = linear_data(4000, weights, bias=1.0, seed=3, noise="laplace")
    y[::50] += 40.0  # outliers pull a squared-loss fit, not a median fit
    vx, vy = linear_data(1000, weights, bias=1.0, seed=4, noise="laplace")
    result = train(
        params(loss="absolute_loss", epochs="15", num_models="16", early_stopping_patience="20"),
        [shards_of(x, y, 1)],
        shards_of(vx, vy, 1, "validation"),
    )
    lad = QuantileRegressor(quantile=0.5, alpha=0, solver="highs").fit(x, y)
    lad_mae = np.mean(np.abs(lad.predict(vx) - vy))
    local_mae = result.metrics["validation:absolute_loss"]
    assert local_mae <= lad_mae * 1.02
    assert result.metrics["validation:objective_loss"] == pytest.approx(local_mae)


@pytest.mark.parametrize("loss", ["huber_loss", "quantile_loss", "eps_insensitive_absolute_loss"])
def test_other_regression_losses_learn(loss: str) -> None:
    weights = np.array([1.0, 2.0])
    x, y = linear_data(3000, weights, bias=0.0, seed=5)
    result = train(params(loss=loss, epochs="15", early_stopping_patience="20"), [shards_of(x, y, 1)])
    np.testing.assert_allclose(result.model.weights, weights, rtol=0.1, atol=0.05)


def test_feature_dim_must_match_the_data() -> None:
    x, y = linear_data(100, np.ones(3), 0.0, seed=6)
    with pytest.raises(TrainingFailedError, match=r"feature_dim \(4\) does not match the dimension of the train"):
        train(params(feature_dim="4"), [shards_of(x, y, 1)])


def test_unlabelled_training_data_fails() -> None:
    x, _ = linear_data(100, np.ones(3), 0.0, seed=6)
    with pytest.raises(TrainingFailedError, match="without a label"):
        train(params(), [[Shard("train/x.data", x, None, 1)]])


def test_early_stopping_ends_training_when_validation_stops_improving() -> None:
    x, y = linear_data(2000, np.ones(3), 0.0, seed=7)
    vx, vy = linear_data(500, np.ones(3), 0.0, seed=8)
    seen: list[float] = []
    result = train(
        params(epochs="50", early_stopping_patience="2", early_stopping_tolerance="0.2"),
        [shards_of(x, y, 1)],
        shards_of(vx, vy, 1, "validation"),
        progress=lambda p: seen.append(p.validation_loss or 0.0),
    )
    # Replay the rule: stop once `patience` epochs in a row improve the best loss by less than 20 %.
    best, quiet, expected_stop = float("inf"), 0, None
    for epoch, loss in enumerate(seen, start=1):
        quiet = 0 if best == float("inf") or best - loss > 0.2 * best else quiet + 1
        best = min(best, loss)
        if quiet >= 2:
            expected_stop = epoch
            break
    assert expected_stop is not None and expected_stop < 50
    assert result.early_stopped
    assert result.epochs_run == expected_stop == len(seen)


def test_patience_above_epochs_disables_early_stopping() -> None:
    x, y = linear_data(1000, np.ones(3), 0.0, seed=7)
    vx, vy = linear_data(200, np.ones(3), 0.0, seed=8)
    hp = params(epochs="6", early_stopping_patience="7", early_stopping_tolerance="0.9")
    result = train(hp, [shards_of(x, y, 1)], shards_of(vx, vy, 1, "validation"))
    assert (result.epochs_run, result.early_stopped) == (6, False)


def test_should_stop_interrupts_training() -> None:
    x, y = linear_data(2000, np.ones(3), 0.0, seed=9)
    with pytest.raises(TrainingStoppedError):
        train(params(), [shards_of(x, y, 1)], should_stop=lambda simulated: simulated > 5.2)


# ------------------------------------------------------------------------------------------------ distribution


def test_sharded_by_s3_key_is_round_robin_over_the_key_order() -> None:
    objects = [S3Object(f"train/{year}.data", 10) for year in range(1979, 1986)]
    hosts = channels.assign_objects(objects, 3, "ShardedByS3Key")
    assert [[o.key for o in host] for host in hosts] == [
        ["train/1979.data", "train/1982.data", "train/1985.data"],
        ["train/1980.data", "train/1983.data"],
        ["train/1981.data", "train/1984.data"],
    ]
    assert channels.assign_objects(objects[:2], 4, "ShardedByS3Key")[2:] == [[], []]  # more hosts than objects
    assert channels.assign_objects(objects, 3, "FullyReplicated") == [objects] * 3


def test_hosts_see_their_own_data_and_replication_costs_more_simulated_time() -> None:
    x, y = linear_data(5000, np.ones(4), 0.0, seed=10)
    shards = shards_of(x, y, 5)
    hp = params(epochs="2", mini_batch_size="100", early_stopping_patience="5")
    sharded = train(hp, [[s] for s in shards])
    replicated = train(hp, [shards] * 5)
    assert [h.keys for h in sharded.hosts] == [(s.key,) for s in shards]
    assert [h.rows for h in sharded.hosts] == [1000] * 5
    assert [h.steps for h in sharded.hosts] == [20] * 5  # 1000 rows / 100 per batch × 2 epochs
    assert [h.rows for h in replicated.hosts] == [5000] * 5
    assert [h.steps for h in replicated.hosts] == [100] * 5
    assert replicated.simulated_breakdown["compute"] > 4 * sharded.simulated_breakdown["compute"]
    assert replicated.simulated_breakdown["download"] == pytest.approx(5 * sharded.simulated_breakdown["download"])
    assert replicated.simulated_seconds > sharded.simulated_seconds


def test_hosts_without_data_sit_out() -> None:
    x, y = linear_data(1000, np.ones(2), 0.0, seed=11)
    result = train(params(epochs="1"), [shards_of(x, y, 1), [], []])
    assert [h.rows for h in result.hosts] == [1000, 0, 0]
    assert [h.steps for h in result.hosts] == [10, 0, 0]


def test_no_training_data_fails() -> None:
    with pytest.raises(TrainingFailedError, match="No training data"):
        train(params(), [[], []])


def test_instance_vcpus_from_the_size() -> None:
    assert [ll.instance_vcpus(t) for t in ("ml.c5.2xlarge", "ml.m5.xlarge", "ml.c4.8xlarge", "ml.t3.large")] == [
        8,
        4,
        32,
        2,
    ]


# ------------------------------------------------------------------------------------------------ recordIO


def _encode(x: np.ndarray, y: np.ndarray | None) -> bytes:
    labels = [None] * len(x) if y is None else [float(v) for v in y]
    return b"".join(recordio.encode_record(row.tolist(), label) for row, label in zip(x, labels, strict=True))


def test_fast_reader_matches_the_stdlib_decoder() -> None:
    x, y = linear_data(300, np.ones(25), 0.0, seed=12)
    blob = _encode(x, y)
    features, labels = read_dense(blob)
    expected = list(recordio.iter_records(io.BytesIO(blob)))
    np.testing.assert_array_equal(features, np.array([f for f, _ in expected], dtype=np.float32))
    assert labels is not None
    np.testing.assert_array_equal(labels, np.array([lab[0] for _, lab in expected], dtype=np.float32))
    unlabelled, none = read_dense(_encode(x[:5], None))
    np.testing.assert_array_equal(unlabelled, x[:5])
    assert none is None


def test_reader_falls_back_for_records_of_other_layouts() -> None:
    # A uid field makes records differ from the template; mixed widths cannot be one array.
    payload = b"\x1a\x03abc" + recordio.encode_record([1.0, 2.0], 3.0)[8:]
    blob = recordio.frame(payload) + recordio.encode_record([4.0, 5.0], 6.0)
    features, labels = read_dense(blob)
    np.testing.assert_array_equal(features, [[1.0, 2.0], [4.0, 5.0]])
    assert labels is not None and labels.tolist() == [3.0, 6.0]
    with pytest.raises(recordio.RecordIOError, match="has 3 features"):
        read_dense(recordio.encode_record([1.0, 2.0], 1.0) + recordio.encode_record([1.0, 2.0, 3.0], 1.0))


def test_csv_channel_takes_the_label_from_the_first_column() -> None:
    features, labels = channels.decode_object(b"1.5,2,3\n-1,4,5\n", "text/csv", "train/a.csv")
    np.testing.assert_array_equal(features, [[2, 3], [4, 5]])
    assert labels is not None and labels.tolist() == [1.5, -1.0]
    with pytest.raises(TrainingFailedError, match="content type 'application/json' is not supported"):
        channels.decode_object(b"{}", "application/json", "train/a.json")
