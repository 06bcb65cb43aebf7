"""Linear Learner's hyperparameters: the documented names, defaults and ranges, parsed from SageMaker's strings.

An unknown name or a bad value fails the job with a ``ClientError: ...`` reason, as the algorithm does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from local.errors import client_error

AUTO_NUM_MODELS = 32
AUTO_LEARNING_RATE = {"adam": 0.01, "rmsprop": 0.01, "sgd": 0.1}
REGRESSION_LOSSES = (
    "squared_loss",
    "absolute_loss",
    "huber_loss",
    "quantile_loss",
    "eps_insensitive_squared_loss",
    "eps_insensitive_absolute_loss",
)
CLASSIFICATION_LOSSES = ("logistic", "hinge_loss", "softmax_loss")


@dataclass(frozen=True)
class _Spec:
    kind: str  # int | float | bool | enum | string
    auto: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()


_POSITIVE_INT = _Spec("int", low=1)
_POSITIVE_FLOAT = _Spec("float", low=0, low_open=True)
_UNIT_OPEN = _Spec("float", low=0, high=1, low_open=True, high_open=True)

HYPERPARAMETER_SPECS: dict[str, _Spec] = {
    "predictor_type": _Spec("enum", choices=("binary_classifier", "multiclass_classifier", "regressor")),
    "feature_dim": _Spec("int", auto=True, low=1),
    "mini_batch_size": _POSITIVE_INT,
    "epochs": _POSITIVE_INT,
    "num_models": _Spec("int", auto=True, low=1),
    "loss": _Spec("enum", auto=True, choices=REGRESSION_LOSSES + CLASSIFICATION_LOSSES),
    "optimizer": _Spec("enum", auto=True, choices=("sgd", "adam", "rmsprop")),
    "learning_rate": _Spec("float", auto=True, low=0, low_open=True),
    "wd": _Spec("float", auto=True, low=0),
    "l1": _Spec("float", auto=True, low=0),
    "beta_1": _Spec("float", auto=True, low=0, high=1, high_open=True),
    "beta_2": _Spec("float", auto=True, low=0, high=1, high_open=True),
    "momentum": _Spec("float", auto=True, low=0, high=1, high_open=True),
    "bias_lr_mult": _Spec("float", auto=True, low=0, low_open=True),
    "bias_wd_mult": _Spec("float", auto=True, low=0),
    "use_bias": _Spec("bool"),
    "normalize_data": _Spec("bool"),
    "normalize_label": _Spec("bool", auto=True),
    "unbias_data": _Spec("bool", auto=True),
    "unbias_label": _Spec("bool", auto=True),
    "num_point_for_scaler": _POSITIVE_INT,
    "early_stopping_patience": _POSITIVE_INT,
    "early_stopping_tolerance": _POSITIVE_FLOAT,
    "huber_delta": _POSITIVE_FLOAT,
    "loss_insensitivity": _POSITIVE_FLOAT,
    "quantile": _UNIT_OPEN,
    "init_method": _Spec("enum", choices=("uniform", "normal")),
    "init_scale": _POSITIVE_FLOAT,
    "init_sigma": _POSITIVE_FLOAT,
    "init_bias": _Spec("float"),
    "use_lr_scheduler": _Spec("bool"),
    "lr_scheduler_step": _Spec("int", auto=True, low=1),
    "lr_scheduler_factor": _Spec("float", auto=True, low=0, high=1, low_open=True, high_open=True),
    "lr_scheduler_minimum_lr": _Spec("float", auto=True, low=0, low_open=True),
    # Classification-only: validated, unused by a regressor.
    "num_classes": _Spec("int", low=3, high=1_000_000),
    "accuracy_top_k": _POSITIVE_INT,
    "balance_multiclass_weights": _Spec("bool"),
    "binary_classifier_model_selection_criteria": _Spec(
        "enum",
        choices=(
            "accuracy",
            "f_beta",
            "precision_at_target_recall",
            "recall_at_target_precision",
            "loss_function",
        ),
    ),
    "f_beta": _POSITIVE_FLOAT,
    "margin": _POSITIVE_FLOAT,
    "num_calibration_samples": _Spec("int", auto=True, low=1),
    "positive_example_weight_mult": _Spec("float", auto=True, low=0, low_open=True),
    "target_precision": _UNIT_OPEN,
    "target_recall": _UNIT_OPEN,
    # Set by SageMaker itself for tuning jobs.
    "_tuning_objective_metric": _Spec("string"),
}


@dataclass(frozen=True)
class LinearLearnerParams:
    """Parsed hyperparameters; ``None`` means ``auto``."""

    predictor_type: str
    feature_dim: int | None = None
    mini_batch_size: int = 1000
    epochs: int = 15
    num_models: int | None = None
    loss: str | None = None
    optimizer: str | None = None
    learning_rate: float | None = None
    wd: float | None = None
    l1: float | None = None
    beta_1: float | None = None
    beta_2: float | None = None
    momentum: float | None = None
    bias_lr_mult: float | None = None
    bias_wd_mult: float | None = None
    use_bias: bool = True
    normalize_data: bool = True
    normalize_label: bool | None = None
    unbias_data: bool | None = None
    unbias_label: bool | None = None
    num_point_for_scaler: int = 10_000
    early_stopping_patience: int = 3
    early_stopping_tolerance: float = 0.001
    huber_delta: float = 1.0
    loss_insensitivity: float = 0.01
    quantile: float = 0.5
    init_method: str = "uniform"
    init_scale: float = 0.07
    init_sigma: float = 0.01
    init_bias: float = 0.0
    use_lr_scheduler: bool = True
    lr_scheduler_step: int | None = None
    lr_scheduler_factor: float | None = None
    lr_scheduler_minimum_lr: float | None = None
    raw: Mapping[str, str] = field(default_factory=dict)

    @property
    def effective_loss(self) -> str:
        return self.loss or "squared_loss"

    @property
    def effective_optimizer(self) -> str:
        return self.optimizer or "adam"

    @property
    def effective_num_models(self) -> int:
        return self.num_models or AUTO_NUM_MODELS


def _parse_value(name: str, text: str, spec: _Spec) -> Any:
    if spec.auto and text == "auto":
        return None
    if spec.kind == "string":
        return text
    if spec.kind == "enum":
        if text not in spec.choices:
            allowed = ", ".join(("auto", *spec.choices) if spec.auto else spec.choices)
            raise client_error(f"hyperparameter {name}={text!r} is not one of: {allowed}")
        return text
    if spec.kind == "bool":
        if text.lower() not in ("true", "false"):
            raise client_error(
                f"hyperparameter {name}={text!r} must be 'true' or 'false'" + (" or 'auto'" if spec.auto else "")
            )
        return text.lower() == "true"
    try:
        number: float = int(text) if spec.kind == "int" else float(text)
    except ValueError:
        kind = "an integer" if spec.kind == "int" else "a number"
        raise client_error(
            f"hyperparameter {name}={text!r} is not {kind}" + (" or 'auto'" if spec.auto else "")
        ) from None
    if not math.isfinite(number):
        raise client_error(f"hyperparameter {name}={text!r} is not a finite number")
    too_low = spec.low is not None and (number <= spec.low if spec.low_open else number < spec.low)
    too_high = spec.high is not None and (number >= spec.high if spec.high_open else number > spec.high)
    if too_low or too_high:
        low = "-inf" if spec.low is None else f"{spec.low:g}"
        high = "inf" if spec.high is None else f"{spec.high:g}"
        opening = "(" if spec.low_open or spec.low is None else "["
        closing = ")" if spec.high_open or spec.high is None else "]"
        interval = f"{opening}{low}, {high}{closing}"
        raise client_error(f"hyperparameter {name}={text!r} is outside the valid range {interval}")
    return number


def parse_hyperparameters(raw: Mapping[str, str]) -> LinearLearnerParams:
    """Validate SageMaker-style string hyperparameters; raise ``TrainingFailedError`` naming what is wrong."""
    unknown = sorted(set(raw) - set(HYPERPARAMETER_SPECS))
    if unknown:
        raise client_error(
            "Additional hyperparameters are not allowed ("
            + ", ".join(repr(name) for name in unknown)
            + (" was" if len(unknown) == 1 else " were")
            + " unexpected)"
        )
    if "predictor_type" not in raw:
        raise client_error("hyperparameter predictor_type is required (regressor, binary_classifier, ...)")
    values: dict[str, Any] = {}
    for name, text in raw.items():
        if not isinstance(text, str):
            raise client_error(f"hyperparameter {name} must be a string, got {type(text).__name__}")
        values[name] = _parse_value(name, text.strip(), HYPERPARAMETER_SPECS[name])
    if values["predictor_type"] != "regressor":
        raise client_error(f"predictor_type={values['predictor_type']!r}: local mode implements the regressor only")
    loss = values.get("loss")
    if loss in CLASSIFICATION_LOSSES:
        raise client_error(f"loss={loss!r} is not valid for predictor_type 'regressor'")
    if values.get("normalize_label") is None and "normalize_label" in values:
        values.pop("normalize_label")
    known = {name: value for name, value in values.items() if name in LinearLearnerParams.__dataclass_fields__}
    return LinearLearnerParams(**known, raw=dict(raw))
