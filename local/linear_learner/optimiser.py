"""The optimiser: each model's (learning rate, wd, l1), the losses and their gradients, adam / rmsprop / sgd steps."""

from __future__ import annotations

import math

import numpy as np

from local.errors import client_error
from local.linear_learner.hyperparameters import AUTO_LEARNING_RATE, LinearLearnerParams

_LR_GRID_SIZE = 8


def model_grid(params: LinearLearnerParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(learning rate, wd, l1) of every model; model 0 has exactly the given values."""
    count = params.effective_num_models
    base_lr = params.learning_rate or AUTO_LEARNING_RATE[params.effective_optimizer]
    lr = np.full(count, base_lr)
    grid = min(_LR_GRID_SIZE, max(count - 1, 1))
    multipliers = np.logspace(-1, 1, grid) if grid > 1 else np.array([1.0])

    def levels(given: float | None, auto_levels: tuple[float, ...]) -> tuple[float, ...]:
        if given is None:
            return auto_levels
        return (given, given / 10, given * 10, 0.0)

    wd_levels = levels(params.wd, (0.0, 1e-5, 1e-4, 1e-3))
    l1_levels = levels(params.l1, (0.0, 0.0, 1e-5, 1e-4))
    wd = np.full(count, wd_levels[0])
    l1 = np.full(count, l1_levels[0])
    for k in range(1, count):
        lr[k] = base_lr * multipliers[(k - 1) % grid]
        level = ((k - 1) // grid) % len(wd_levels)
        wd[k] = wd_levels[level]
        l1[k] = l1_levels[level]
    return lr, wd, l1


def loss_and_gradient(
    loss: str, residual: np.ndarray, params: LinearLearnerParams, label_std: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-element loss and d loss / d prediction, residual = prediction - label (normalized units)."""
    if loss == "squared_loss":
        return residual**2, 2 * residual
    if loss == "absolute_loss":
        return np.abs(residual), np.sign(residual)
    if loss == "huber_loss":
        delta = params.huber_delta / label_std
        small = np.abs(residual) <= delta
        value = np.where(small, 0.5 * residual**2, delta * (np.abs(residual) - 0.5 * delta))
        return value, np.where(small, residual, delta * np.sign(residual))
    if loss == "quantile_loss":
        q = params.quantile
        # label above prediction (residual < 0) costs q per unit, below costs 1 - q
        return np.where(residual < 0, -q * residual, (1 - q) * residual), np.where(residual < 0, -q, 1 - q)
    eps = params.loss_insensitivity / label_std
    excess = np.maximum(np.abs(residual) - eps, 0.0)
    if loss == "eps_insensitive_squared_loss":
        return excess**2, 2 * excess * np.sign(residual)
    if loss == "eps_insensitive_absolute_loss":
        return excess, (excess > 0) * np.sign(residual)
    raise client_error(f"loss {loss!r} is not implemented")


def objective_raw(loss: str, residual_raw: np.ndarray, params: LinearLearnerParams) -> np.ndarray:
    """Mean objective in raw label units per model (residual_raw: rows x models)."""
    value, _ = loss_and_gradient(loss, residual_raw, params, 1.0)
    return np.asarray(value.mean(axis=0))


class Optimizer:
    def __init__(self, params: LinearLearnerParams, shape_w: tuple[int, int], models: int) -> None:
        self.kind = params.effective_optimizer
        self.beta_1 = 0.9 if params.beta_1 is None else params.beta_1
        self.beta_2 = 0.999 if params.beta_2 is None else params.beta_2
        self.momentum = params.momentum or 0.0
        self.m_w = np.zeros(shape_w)
        self.v_w = np.zeros(shape_w)
        self.m_b = np.zeros(models)
        self.v_b = np.zeros(models)
        self.t = 0

    def step(
        self, w: np.ndarray, b: np.ndarray, *, g_w: np.ndarray, g_b: np.ndarray, lr: np.ndarray, lr_b: np.ndarray
    ) -> None:
        self.t += 1
        if self.kind == "adam":
            # in place: the moments live on the optimizer
            np.multiply(self.m_w, self.beta_1, out=self.m_w)
            self.m_w += (1 - self.beta_1) * g_w
            np.multiply(self.m_b, self.beta_1, out=self.m_b)
            self.m_b += (1 - self.beta_1) * g_b
            np.multiply(self.v_w, self.beta_2, out=self.v_w)
            self.v_w += (1 - self.beta_2) * g_w * g_w
            np.multiply(self.v_b, self.beta_2, out=self.v_b)
            self.v_b += (1 - self.beta_2) * g_b * g_b
            correction = math.sqrt(1 - self.beta_2**self.t) / (1 - self.beta_1**self.t)
            w -= lr * correction * self.m_w / (np.sqrt(self.v_w) + 1e-8)
            b -= lr_b * correction * self.m_b / (np.sqrt(self.v_b) + 1e-8)
        elif self.kind == "rmsprop":
            self.v_w *= self.beta_2
            self.v_w += (1 - self.beta_2) * g_w * g_w
            self.v_b *= self.beta_2
            self.v_b += (1 - self.beta_2) * g_b * g_b
            w -= lr * g_w / (np.sqrt(self.v_w) + 1e-8)
            b -= lr_b * g_b / (np.sqrt(self.v_b) + 1e-8)
        else:
            self.m_w *= self.momentum
            self.m_w += g_w
            self.m_b *= self.momentum
            self.m_b += g_b
            w -= lr * self.m_w
            b -= lr_b * self.m_b
