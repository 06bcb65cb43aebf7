"""Linear Learner checkpoints in local mode: what SageMaker syncs between the container and ``CheckpointConfig``.

The Linear Learner docs: with managed spot training the algorithm "supports using checkpoints to snapshot the
model state". SageMaker copies what the container writes to ``/opt/ml/checkpoints`` to ``CheckpointConfig.S3Uri``
while the job runs, and copies it back when a spot interruption restarts the job, so training resumes from the
last checkpoint instead of the beginning. Local mode does the same through S3 (moto's): after each epoch the
training state is written as ``<S3Uri>/linear-learner-epoch-<NNNN>.npz`` (numpy's format: every model's
weights and bias, the optimizer's moments and step count, each model's best validation loss and weights, the
early-stopping counters and the simulated clock); a restarted job reads the newest and goes on with the next
epoch. The epochs' row orders are seeded by host and epoch, so a resumed job ends with the model an
uninterrupted one would have.

A restart costs the cluster's setup and download again (added to the simulated clock on restore).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from lambdas.lambda_common.vocabulary import parse_s3_uri

FILE_PATTERN = re.compile(r"linear-learner-epoch-(\d{4})\.npz$")
_SGD_ARRAYS = ("weights", "bias", "best_val", "best_weights", "best_bias", "epoch_train_loss")
_SGD_NUMBERS = ("simulated", "compute_seconds", "sync_seconds")
_OPTIMIZER_ARRAYS = ("m_w", "v_w", "m_b", "v_b")


def capture(epoch: int, sgd: Any, early_stopping: Any) -> bytes:
    """The training state after ``epoch`` as .npz bytes."""
    arrays: dict[str, Any] = {name: getattr(sgd, name) for name in _SGD_ARRAYS}
    arrays |= {f"optimizer_{name}": getattr(sgd.optimizer, name) for name in _OPTIMIZER_ARRAYS}
    arrays |= {name: np.float64(getattr(sgd, name)) for name in _SGD_NUMBERS}
    arrays |= {"epoch": np.int64(epoch), "optimizer_t": np.int64(sgd.optimizer.t),
               "steps_done": np.asarray(sgd.steps_done, dtype=np.int64),
               "early_best": np.float64(early_stopping.best),
               "early_epochs_without_improvement": np.int64(early_stopping.epochs_without_improvement)}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def restore(data: bytes, sgd: Any, early_stopping: Any) -> int:
    """Put a checkpoint's state back; returns the epoch it was taken after."""
    with np.load(io.BytesIO(data)) as state:
        for name in _SGD_ARRAYS:
            setattr(sgd, name, state[name].copy())
        for name in _OPTIMIZER_ARRAYS:
            setattr(sgd.optimizer, name, state[f"optimizer_{name}"].copy())
        for name in _SGD_NUMBERS:
            setattr(sgd, name, float(state[name]))
        sgd.optimizer.t = int(state["optimizer_t"])
        sgd.steps_done = [int(n) for n in state["steps_done"]]
        early_stopping.best = float(state["early_best"])
        early_stopping.epochs_without_improvement = int(state["early_epochs_without_improvement"])
        epoch = int(state["epoch"])
    sgd.simulated += sgd.cluster.setup_seconds + sgd.download_seconds  # the restarted cluster starts again
    return epoch


@dataclass
class S3Checkpoints:
    """The checkpoints of one job under ``CheckpointConfig.S3Uri`` (the training job's ``checkpoints=``)."""

    s3: Any
    uri: str
    written: int = 0
    restored_epoch: int | None = None

    def _location(self) -> tuple[str, str]:
        bucket, prefix = parse_s3_uri(self.uri)
        return bucket, prefix if not prefix or prefix.endswith("/") else prefix + "/"

    def save(self, epoch: int, sgd: Any, early_stopping: Any) -> None:
        bucket, prefix = self._location()
        self.s3.put_object(Bucket=bucket, Key=f"{prefix}linear-learner-epoch-{epoch:04d}.npz",
                           Body=capture(epoch, sgd, early_stopping))
        self.written += 1

    def resume(self, sgd: Any, early_stopping: Any) -> int:
        """The epoch to continue after (0 without a checkpoint)."""
        bucket, prefix = self._location()
        listed = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        keys = sorted(item["Key"] for item in listed if FILE_PATTERN.search(item["Key"]))
        if not keys:
            return 0
        body = self.s3.get_object(Bucket=bucket, Key=keys[-1])["Body"].read()
        self.restored_epoch = restore(body, sgd, early_stopping)
        return self.restored_epoch
