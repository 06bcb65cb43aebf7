"""Synchronous data-parallel SGD over the hosts' shards: the channels, the scaler, the epochs, the chosen model."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from local.channels import Shard
from local.errors import TrainingStoppedError, client_error
from local.linear_learner.cluster_time import ClusterModel, instance_vcpus
from local.linear_learner.hyperparameters import LinearLearnerParams
from local.linear_learner.optimiser import Optimizer, loss_and_gradient, model_grid, objective_raw
from local.linear_model import LinearModel

try:
    import threadpoolctl as _threadpoolctl
except ImportError:  # optional: only limits BLAS threads
    _threadpoolctl = None


@dataclass(frozen=True)
class HostReport:
    host: str
    keys: tuple[str, ...]
    rows: int
    bytes: int
    steps: int = 0


@dataclass(frozen=True)
class EpochProgress:
    epoch: int
    epochs: int
    train_loss: float
    validation_loss: float | None
    simulated_seconds: float
    wall_seconds: float


@dataclass
class TrainingResult:
    model: LinearModel
    metrics: dict[str, float]
    epochs_run: int
    hosts: list[HostReport]
    simulated_seconds: float
    simulated_breakdown: dict[str, float]
    wall_seconds: float
    selected_model: dict[str, Any]
    early_stopped: bool


def _stack(shards: Sequence[Shard], dim: int | None, role: str) -> tuple[np.ndarray, np.ndarray]:
    if not shards:
        empty = np.zeros((0, dim or 0), dtype=np.float32)
        return empty, np.zeros(0, dtype=np.float32)
    for shard in shards:
        if shard.labels is None:
            raise client_error(f"{role} object {shard.key} has records without a label")
        if dim is not None and shard.features.shape[1] != dim:
            raise client_error(
                f"The value of feature_dim ({dim}) does not match the dimension of the {role} data "
                f"({shard.features.shape[1]}) in {shard.key}"
            )
    features = np.concatenate([s.features for s in shards]) if len(shards) > 1 else shards[0].features
    labels = np.concatenate([s.labels for s in shards if s.labels is not None])
    return features, labels


class _SingleThreadedBlas:
    """Holds BLAS to one thread while any training runs (reference-counted: jobs train concurrently).

    The GEMMs here are small (batch × features × models); a multi-threaded BLAS spends more time waking
    threads than multiplying, and on a busy 2-core machine it made multi-host steps ~10x slower.
    ``threadpoolctl`` comes with scikit-learn in the dev environment; without it nothing is limited.
    """

    _lock = threading.Lock()
    _users = 0
    _limiter: Any = None

    def __enter__(self) -> None:
        with self._lock:
            cls = type(self)
            if cls._users == 0 and _threadpoolctl is not None:
                cls._limiter = _threadpoolctl.threadpool_limits(limits=1, user_api="blas")
            cls._users += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            cls = type(self)
            cls._users -= 1
            if cls._users == 0 and cls._limiter is not None:
                cls._limiter.restore_original_limits()
                cls._limiter = None


class Checkpoints(Protocol):
    """Where a job's training state goes after each epoch and comes back from (``local.checkpoints``)."""

    def save(self, epoch: int, sgd: Any, early_stopping: Any) -> None: ...

    def resume(self, sgd: Any, early_stopping: Any) -> int: ...


def train(
    params: LinearLearnerParams,
    host_shards: Sequence[Sequence[Shard]],
    validation: Sequence[Shard] = (),
    test: Sequence[Shard] = (),
    *,
    instance_type: str = "ml.c5.2xlarge",
    cluster: ClusterModel | None = None,
    seed: int = 0,
    progress: Callable[[EpochProgress], None] | None = None,
    should_stop: Callable[[float], bool] | None = None,
    checkpoints: Checkpoints | None = None,
) -> TrainingResult:
    """Train ``num_models`` models by synchronous data-parallel SGD over the hosts' shards.

    ``host_shards[i]`` is what host ``algo-(i+1)`` received. ``should_stop(simulated_seconds)`` is polled
    every few steps; when it returns true training raises ``TrainingStoppedError``. ``checkpoints``
    (``local.checkpoints``): resume from the newest, and write one after each epoch (before ``progress``).
    """
    with _SingleThreadedBlas():
        return _train(
            params,
            host_shards,
            validation,
            test,
            instance_type=instance_type,
            cluster=cluster,
            seed=seed,
            progress=progress,
            should_stop=should_stop,
            checkpoints=checkpoints,
        )


def _train(
    params: LinearLearnerParams,
    host_shards: Sequence[Sequence[Shard]],
    validation: Sequence[Shard],
    test: Sequence[Shard],
    *,
    instance_type: str,
    cluster: ClusterModel | None,
    seed: int,
    progress: Callable[[EpochProgress], None] | None,
    should_stop: Callable[[float], bool] | None,
    checkpoints: Checkpoints | None = None,
) -> TrainingResult:
    """The phases: stack the channels, fit the scaler, run the epochs (early stopping), select and score."""
    started = time.perf_counter()
    data = _TrainingData.stacked(params, host_shards, validation, test, seed)
    scaler = _Scaler.fitted(params, data)
    sgd = _DataParallelSgd(
        params, data, scaler, cluster=cluster or ClusterModel(), vcpus=instance_vcpus(instance_type), seed=seed
    )
    early_stopping = _EarlyStopping(params.early_stopping_tolerance, params.early_stopping_patience)
    resumed = checkpoints.resume(sgd, early_stopping) if checkpoints is not None else 0
    epoch = resumed
    for epoch in range(resumed + 1, params.epochs + 1):
        sgd.run_epoch(epoch, should_stop)
        metric = sgd.evaluate()
        if checkpoints is not None:
            checkpoints.save(epoch, sgd, early_stopping)
        if progress is not None:
            progress(
                EpochProgress(
                    epoch,
                    params.epochs,
                    float(sgd.epoch_train_loss.min()),
                    metric if data.y_val.size else None,
                    sgd.simulated,
                    time.perf_counter() - started,
                )
            )
        if should_stop is not None and should_stop(sgd.simulated):
            raise TrainingStoppedError()
        if early_stopping.stops_after(metric) and epoch < params.epochs:
            break
    return _result(params, data, scaler, sgd, epoch, early_stopped=epoch < params.epochs, started=started)


@dataclass(frozen=True)
class _TrainingData:
    """The channels as arrays: each host's train rows (replicated hosts share one array), validation, test."""

    dim: int
    hosts: list[tuple[np.ndarray, np.ndarray]]
    reports: list[HostReport]
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    validation_bytes: int  # validation + test channel bytes (every host downloads them)
    seed: int

    @classmethod
    def stacked(
        cls,
        params: LinearLearnerParams,
        host_shards: Sequence[Sequence[Shard]],
        validation: Sequence[Shard],
        test: Sequence[Shard],
        seed: int,
    ) -> _TrainingData:
        first = next((s for shards in host_shards for s in shards), None)
        if first is None:
            raise client_error("No training data: the train channel gave no host any S3 object")
        dim = params.feature_dim if params.feature_dim is not None else first.features.shape[1]
        # Stack each distinct set of objects once: replicated hosts share one array.
        stacked: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}
        hosts: list[tuple[np.ndarray, np.ndarray]] = []
        reports: list[HostReport] = []
        for index, shards in enumerate(host_shards):
            keys = tuple(s.key for s in shards)
            if keys not in stacked:
                stacked[keys] = _stack(shards, dim, "train")
            hosts.append(stacked[keys])
            reports.append(
                HostReport(f"algo-{index + 1}", keys, int(stacked[keys][1].shape[0]), sum(s.size for s in shards))
            )
        if sum(r.rows for r in reports) == 0:
            raise client_error("No training data: the train channel's objects hold no records")
        x_val, y_val = _stack(validation, dim, "validation")
        x_test, y_test = _stack(test, dim, "test")
        validation_bytes = sum(s.size for s in validation) + sum(s.size for s in test)
        return cls(dim, hosts, reports, x_val, y_val, x_test, y_test, validation_bytes, seed)

    def permutation(self, host: int, epoch: int) -> np.ndarray:
        """The order host ``algo-(host+1)`` walks its rows in an epoch (seeded by host and epoch)."""
        return np.random.default_rng((self.seed, host, epoch)).permutation(self.hosts[host][1].shape[0])


@dataclass(frozen=True)
class _Scaler:
    """Feature and label normalization, fitted on a sample of algo-1's rows (or the first host with data)."""

    feature_mean: np.ndarray
    feature_std: np.ndarray
    label_mean: float
    label_std: float
    scale: np.ndarray  # float32 1 / std
    shift: np.ndarray  # float32 mean / std

    @classmethod
    def fitted(cls, params: LinearLearnerParams, data: _TrainingData) -> _Scaler:
        scaler_host = next(i for i, r in enumerate(data.reports) if r.rows)
        sample_index = data.permutation(scaler_host, 0)[: params.num_point_for_scaler]
        sample_x = data.hosts[scaler_host][0][sample_index].astype(np.float64)
        sample_y = data.hosts[scaler_host][1][sample_index].astype(np.float64)
        unbias_data = params.unbias_data if params.unbias_data is not None else params.use_bias
        unbias_label = params.unbias_label if params.unbias_label is not None else params.use_bias
        normalize_label = params.normalize_label if params.normalize_label is not None else True
        feature_mean = sample_x.mean(axis=0) if params.normalize_data and unbias_data else np.zeros(data.dim)
        feature_std = sample_x.std(axis=0) if params.normalize_data else np.ones(data.dim)
        feature_std = np.where(feature_std > 0, feature_std, 1.0)
        label_mean = float(sample_y.mean()) if normalize_label and unbias_label else 0.0
        label_std = float(sample_y.std()) if normalize_label else 1.0
        label_std = label_std if label_std > 0 else 1.0
        scale = (1.0 / feature_std).astype(np.float32)
        shift = (feature_mean / feature_std).astype(np.float32)
        return cls(feature_mean, feature_std, label_mean, label_std, scale, shift)

    def normalized(self, x: np.ndarray) -> np.ndarray:
        return x * self.scale - self.shift

    def raw_predictions(self, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (self.normalized(x) @ w + b) * self.label_std + self.label_mean


@dataclass
class _EarlyStopping:
    """Stops after ``patience`` epochs whose relative improvement of the watched loss is below ``tolerance``."""

    tolerance: float
    patience: int
    best: float = math.inf
    epochs_without_improvement: int = 0

    def stops_after(self, metric: float) -> bool:
        if self.best - metric > self.tolerance * abs(self.best) or math.isinf(self.best):
            self.epochs_without_improvement = 0
        else:
            self.epochs_without_improvement += 1
        self.best = min(self.best, metric)
        return self.epochs_without_improvement >= self.patience


class _DataParallelSgd:
    """The ``num_models`` models' weights, their optimizer, and the simulated cluster time, epoch by epoch."""

    def __init__(
        self,
        params: LinearLearnerParams,
        data: _TrainingData,
        scaler: _Scaler,
        *,
        cluster: ClusterModel,
        vcpus: int,
        seed: int,
    ) -> None:
        self.params, self.data, self.scaler, self.cluster, self.vcpus = params, data, scaler, cluster, vcpus
        self.models = params.effective_num_models
        self.loss = params.effective_loss
        self.lr, self.wd, self.l1 = model_grid(params)
        self.bias_lr = self.lr * (params.bias_lr_mult or 1.0)
        self.bias_wd = self.wd * (params.bias_wd_mult or 0.0)
        rng = np.random.default_rng(seed)
        if params.init_method == "normal":
            init = rng.normal(0.0, params.init_sigma, size=(data.dim, 1))
        else:
            init = rng.uniform(-params.init_scale, params.init_scale, size=(data.dim, 1))
        self.weights = np.repeat(init, self.models, axis=1).astype(np.float32)
        self.bias = np.full(self.models, params.init_bias if params.use_bias else 0.0, dtype=np.float32)
        self.optimizer = Optimizer(params, self.weights.shape, self.models)
        self.scheduler_step = params.lr_scheduler_step or 100
        self.scheduler_factor = params.lr_scheduler_factor or 0.99
        self.scheduler_minimum = params.lr_scheduler_minimum_lr or 1e-5
        # Simulated time: File mode downloads before training (the largest host's train data + validation/test).
        self.download_seconds = max(r.bytes for r in data.reports) / cluster.download_bytes_per_second
        self.download_seconds += data.validation_bytes / cluster.download_bytes_per_second
        self.simulated = cluster.setup_seconds + self.download_seconds
        self.compute_seconds = 0.0
        self.sync_seconds = 0.0
        self.steps_done = [0] * len(data.hosts)
        self.best_val = np.full(self.models, np.inf)
        self.best_weights = self.weights.copy()
        self.best_bias = self.bias.copy()
        self.epoch_train_loss = np.zeros(self.models)

    def run_epoch(self, epoch: int, should_stop: Callable[[float], bool] | None) -> None:
        """Every host passes once over its rows; ``epoch_train_loss`` is the epoch's loss in raw label units."""
        data, batch = self.data, self.params.mini_batch_size
        orders = [data.permutation(h, epoch) for h in range(len(data.hosts))]
        steps = max(math.ceil(r.rows / batch) for r in data.reports)
        loss_sum = np.zeros(self.models)
        rows_seen = 0
        for step in range(steps):
            step_loss, step_rows = self._step([order[step * batch : (step + 1) * batch] for order in orders])
            loss_sum += step_loss
            rows_seen += step_rows
            if should_stop is not None and step % 16 == 0 and should_stop(self.simulated):
                raise TrainingStoppedError()
        # Training loss in raw label units (value was computed on normalized labels).
        self.epoch_train_loss = loss_sum / max(rows_seen, 1) * _raw_factor(self.loss, self.scaler.label_std)

    def _step(self, host_rows: list[np.ndarray]) -> tuple[np.ndarray, int]:
        """One synchronous step over the hosts that still have a batch; returns (summed loss, rows)."""
        params, scaler, models = self.params, self.scaler, self.models
        parts_x: list[np.ndarray] = []
        parts_y: list[np.ndarray] = []
        sizes: list[int] = []
        for h, rows in enumerate(host_rows):
            if rows.size:
                parts_x.append(self.data.hosts[h][0][rows])
                parts_y.append(self.data.hosts[h][1][rows])
                sizes.append(int(rows.size))
                self.steps_done[h] += 1
        xb = scaler.normalized(np.concatenate(parts_x) if len(parts_x) > 1 else parts_x[0])
        yb = (np.concatenate(parts_y) if len(parts_y) > 1 else parts_y[0]).astype(np.float32)
        yb = (yb - scaler.label_mean) / scaler.label_std
        # Average of the participating hosts' mean gradients.
        row_weight = np.concatenate([np.full(n, 1.0 / (n * len(sizes)), dtype=np.float32) for n in sizes])
        residual = xb @ self.weights + self.bias - yb[:, None]
        value, grad = loss_and_gradient(self.loss, residual, params, scaler.label_std)
        grad = (grad * row_weight[:, None]).astype(np.float32)
        g_w = xb.T @ grad + self.wd * self.weights
        g_b = (grad.sum(axis=0) if params.use_bias else np.zeros(models)) + self.bias_wd * self.bias
        factor = 1.0
        if params.use_lr_scheduler:
            factor = self.scheduler_factor ** (self.optimizer.t // self.scheduler_step)
        step_lr = np.maximum(self.lr * factor, np.minimum(self.lr, self.scheduler_minimum))
        step_lr_b = np.maximum(self.bias_lr * factor, np.minimum(self.bias_lr, self.scheduler_minimum))
        w64, b64 = self.weights.astype(np.float64), self.bias.astype(np.float64)
        self.optimizer.step(w64, b64, g_w=g_w, g_b=g_b, lr=step_lr, lr_b=step_lr_b)
        if self.l1.any():
            threshold = step_lr * self.l1
            w64 = np.sign(w64) * np.maximum(np.abs(w64) - threshold, 0.0)
        self.weights, self.bias = w64.astype(np.float32), b64.astype(np.float32)
        self._spend(max(self.cluster.batch_seconds(n, self.data.dim, models, self.vcpus) for n in sizes))
        if len(self.data.hosts) > 1:
            self.sync_seconds += self.cluster.sync_seconds_per_step
            self.simulated += self.cluster.sync_seconds_per_step
        return value.sum(axis=0), int(yb.shape[0])

    def _spend(self, compute: float) -> None:
        self.compute_seconds += compute
        self.simulated += compute

    def evaluate(self) -> float:
        """The epoch's watched loss; each model keeps its best validation weights (its last without validation)."""
        data = self.data
        if not data.y_val.size:
            self.best_weights, self.best_bias = self.weights.copy(), self.bias.copy()
            return float(self.epoch_train_loss.min())
        predictions = self.scaler.raw_predictions(data.x_val, self.weights, self.bias)
        val_loss = objective_raw(self.loss, predictions - data.y_val[:, None], self.params)
        improved = val_loss < self.best_val
        self.best_val = np.where(improved, val_loss, self.best_val)
        self.best_weights[:, improved] = self.weights[:, improved]
        self.best_bias[improved] = self.bias[improved]
        self._spend(self.cluster.batch_seconds(int(data.y_val.size), data.dim, self.models, self.vcpus) / 2)
        return float(val_loss.min())


def _result(
    params: LinearLearnerParams,
    data: _TrainingData,
    scaler: _Scaler,
    sgd: _DataParallelSgd,
    epochs_run: int,
    *,
    early_stopped: bool,
    started: float,
) -> TrainingResult:
    """Select the model (best validation loss; model 0 without validation), de-normalize it, score it."""
    selected = int(np.argmin(sgd.best_val)) if data.y_val.size else 0
    w_norm = sgd.best_weights[:, selected].astype(np.float64)
    b_norm = float(sgd.best_bias[selected])
    raw_weights = w_norm / scaler.feature_std * scaler.label_std
    shift = float(np.dot(scaler.feature_mean / scaler.feature_std, w_norm))
    raw_bias = (b_norm - shift) * scaler.label_std + scaler.label_mean
    model = LinearModel(weights=raw_weights, bias=raw_bias)
    metrics = {"train:objective_loss": float(sgd.epoch_train_loss[selected])}
    metrics.update(_channel_metrics(model, params, "validation", data.x_val, data.y_val))
    metrics.update(_channel_metrics(model, params, "test", data.x_test, data.y_test))
    selected_info = {
        "index": selected,
        "learningRate": float(sgd.lr[selected]),
        "wd": float(sgd.wd[selected]),
        "l1": float(sgd.l1[selected]),
        "validationLoss": float(sgd.best_val[selected]) if data.y_val.size else None,
    }
    normalization = {
        "featureMean": scaler.feature_mean.tolist(),
        "featureStd": scaler.feature_std.tolist(),
        "labelMean": scaler.label_mean,
        "labelStd": scaler.label_std,
    }
    metadata = {"loss": sgd.loss, "selectedModel": selected_info, "normalization": normalization,
                "hyperParameters": dict(params.raw)}
    return TrainingResult(
        model=LinearModel(weights=raw_weights, bias=raw_bias, metadata=metadata),
        metrics=metrics,
        epochs_run=epochs_run,
        hosts=[HostReport(r.host, r.keys, r.rows, r.bytes, sgd.steps_done[i]) for i, r in enumerate(data.reports)],
        simulated_seconds=sgd.simulated,
        simulated_breakdown={
            "setup": sgd.cluster.setup_seconds,
            "download": sgd.download_seconds,
            "compute": sgd.compute_seconds,
            "sync": sgd.sync_seconds,
        },
        wall_seconds=time.perf_counter() - started,
        selected_model=selected_info,
        early_stopped=early_stopped,
    )


def _channel_metrics(
    model: LinearModel, params: LinearLearnerParams, role: str, x: np.ndarray, y: np.ndarray
) -> dict[str, float]:
    """``<role>:mse``, ``rmse``, ``absolute_loss`` and ``objective_loss`` of the selected model (raw units)."""
    if not y.size:
        return {}
    error = model.predict(x) - y.astype(np.float64)
    mse = float(np.mean(error**2))
    return {
        f"{role}:mse": mse,
        f"{role}:rmse": math.sqrt(mse),
        f"{role}:absolute_loss": float(np.mean(np.abs(error))),
        f"{role}:objective_loss": float(objective_raw(params.effective_loss, error[:, None], params)[0]),
    }


def _raw_factor(loss: str, label_std: float) -> float:
    """Converts a mean loss on normalized labels to raw label units (huber/eps scale with their thresholds)."""
    return label_std**2 if "squared" in loss or loss == "huber_loss" else label_std
