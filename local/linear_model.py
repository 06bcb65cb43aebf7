"""The local model artifact: what local training writes and local hosting serves.

Real Linear Learner artifacts hold an MXNet parameter file; local mode never reads those. Its stand-in keeps
the same container layout (``model.tar.gz`` holding ``model_algo-1``) with a JSON document inside, so the
training output path, ``ModelArtifacts.S3ModelArtifacts`` and ``CreateModel``'s ``ModelDataUrl`` look exactly as
they do on AWS.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ARTIFACT_FORMAT = "shardlab-linear-learner/1"
ARTIFACT_MEMBER = "model_algo-1"


class ModelArtifactError(ValueError):
    """The artifact is not a model local mode can serve."""


@dataclass(frozen=True)
class LinearModel:
    """A linear regressor in raw feature space: ``score = x @ weights + bias``."""

    weights: np.ndarray
    bias: float
    predictor_type: str = "regressor"
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_dim(self) -> int:
        return int(self.weights.shape[0])

    def predict(self, features: np.ndarray) -> np.ndarray:
        if features.ndim != 2 or features.shape[1] != self.feature_dim:
            raise ValueError(
                f"expected rows of {self.feature_dim} features, got an array of shape {features.shape}"
            )
        return features.astype(np.float64) @ self.weights + self.bias

    def to_tar_gz(self) -> bytes:
        document = {
            "format": ARTIFACT_FORMAT,
            "featureDim": self.feature_dim,
            "weights": [float(w) for w in self.weights],
            "bias": float(self.bias),
            "predictorType": self.predictor_type,
            **self.metadata,
        }
        payload = json.dumps(document, sort_keys=True).encode()
        buffer = io.BytesIO()
        # mtime 0 and a fixed member: the same model always gives the same bytes.
        with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(ARTIFACT_MEMBER)
            info.size = len(payload)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(payload))
        return buffer.getvalue()

    @classmethod
    def from_tar_gz(cls, blob: bytes) -> LinearModel:
        try:
            with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
                member = tar.extractfile(ARTIFACT_MEMBER)
                if member is None:
                    raise ModelArtifactError(f"{ARTIFACT_MEMBER} in the artifact is not a regular file")
                document = json.loads(member.read())
        except (tarfile.TarError, KeyError, OSError, json.JSONDecodeError) as error:
            raise ModelArtifactError(f"not a model.tar.gz with {ARTIFACT_MEMBER}: {error}") from error
        if document.get("format") != ARTIFACT_FORMAT:
            raise ModelArtifactError(
                f"artifact format {document.get('format')!r} is not {ARTIFACT_FORMAT!r}"
                " (local mode serves only models it trained)"
            )
        weights = np.asarray(document.pop("weights"), dtype=np.float64)
        if weights.shape != (document.pop("featureDim"),):
            raise ModelArtifactError("artifact weights do not match its featureDim")
        bias = float(document.pop("bias"))
        predictor_type = str(document.pop("predictorType"))
        document.pop("format")
        return cls(weights=weights, bias=bias, predictor_type=predictor_type, metadata=document)
