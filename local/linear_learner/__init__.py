"""SageMaker's Linear Learner (regressor) on numpy, with the cluster's data distribution made real.

Modules: ``hyperparameters`` (names, defaults, ranges, parsing), ``cluster_time`` (the simulated cluster's
constants), ``optimiser`` (model grid, losses, optimizer steps), ``training`` (data-parallel SGD, model choice).

What follows the public documentation (developer guide "Linear Learner", "How it works", hyperparameters):
- Hyperparameters arrive as strings; names, defaults and value ranges are the documented ones. An unknown name
  or a bad value fails the job with a ``ClientError: ...`` reason, as the algorithm does.
- Features are shifted/scaled to mean 0, std 1 and, for regression, the label too, from a sample of
  ``num_point_for_scaler`` rows. ``num_models`` models train at once, one with exactly the given
  hyperparameters and the rest "by close parameters"; the one with the best validation loss is kept.
- Optimizers ``adam`` (the ``auto`` choice), ``sgd`` (with momentum) and ``rmsprop``; all regression losses
  (squared, absolute, huber, quantile, eps-insensitive squared/absolute); L2 (``wd``) and L1 (``l1``);
  ``mini_batch_size``, ``epochs``, ``early_stopping_patience``/``early_stopping_tolerance``, ``use_bias``,
  ``bias_lr_mult``, ``bias_wd_mult``, ``init_*``, the step learning-rate scheduler.

Choices the documentation leaves open (each is a decision of this module, not a documented fact):
- ``num_models=auto`` trains 32 models. ``learning_rate=auto`` is 0.01 for adam/rmsprop and 0.1 for sgd.
  ``wd``/``l1`` ``auto`` mean 0 for the model with the given parameters. Model *k* > 0 multiplies the
  learning rate by a factor on a log grid over [0.1, 10] and takes regularization level ``(k-1) // 8`` of
  ``(wd, l1)`` in {(0,0), (1e-5,0), (1e-4,1e-5), (1e-3,1e-4)} when ``auto``, or {x, x/10, 10x, 0} of a given x
  (an explicit 0 disables the term for every model). ``beta_1``/``beta_2`` auto = 0.9/0.999, momentum auto = 0,
  ``bias_lr_mult`` auto = 1, ``bias_wd_mult`` auto = 0 (the docs: no bias regularization by default).
  Scheduler ``auto``: step = 100 updates, factor 0.99, minimum 1e-5.
- The scaler sample is the first ``num_point_for_scaler`` rows of host ``algo-1`` after its first shuffle,
  shared by all hosts. Constant features get std 1. Losses are computed on the normalized label; the
  ``huber_delta`` and ``loss_insensitivity`` are in raw label units (divided by the label std internally).
  Reported losses (``objective_loss``, ``mse``, ``absolute_loss``, ``rmse``) are in raw label units,
  objective_loss being the mean of the chosen loss without a 1/2 factor.
- Weights are initialized once and shared by all models (uniform(-init_scale, init_scale) or
  normal(0, init_sigma)), so models differ only by their hyperparameters.
- L1 is applied as a proximal soft-threshold after each optimizer step.
- Early stopping watches the best (over models) validation objective loss — the training loss of the epoch
  when there is no validation channel — and stops after ``early_stopping_patience`` epochs whose relative
  improvement is below ``early_stopping_tolerance``. Each model keeps the weights of its best validation
  epoch. Without a validation channel "selecting the most optimal model is not possible" (docs), so the model
  trained with the given hyperparameters (index 0) is kept, with its last-epoch weights.
- Data distribution: which objects each host reads is ``local.channels`` (``ShardedByS3Key``: host
  ``algo-(i+1)`` gets ``keys[i::n]``). Hosts without data train nothing (the docs: "some nodes won't get any
  data"). The validation and test channels are read once (they are FullyReplicated in the workshop).
- Synchronous data-parallel SGD: every host shuffles its own rows each epoch (seeded by host and epoch) and
  walks through them in mini-batches; each step, every host that still has a batch computes the mean gradient
  of its batch, and the hosts' gradients are averaged (hosts that finished their data for the epoch sit out
  until the epoch ends). An epoch is every host passing once over its own data, so with FullyReplicated an
  epoch costs n times the rows and takes as many steps as one host would, with an n-times larger batch.
- Simulated cluster time (``ClusterModel``): setup + max over hosts of (bytes downloaded / bandwidth) + for
  every synchronous step, the slowest participating host's compute (per-step framework overhead +
  4·d·models·rows flops at the instance's rate) + an all-reduce latency when n > 1, + validation passes.
  Each constant is documented on ``ClusterModel`` with where it comes from (fitted to the workshop's
  "almost 4x", measured, or assumed); the local wall time is reported separately and has nothing to do
  with it.
"""

from local.linear_learner.cluster_time import ClusterModel, instance_vcpus
from local.linear_learner.hyperparameters import (
    HYPERPARAMETER_SPECS,
    LinearLearnerParams,
    parse_hyperparameters,
)
from local.linear_learner.optimiser import model_grid
from local.linear_learner.training import EpochProgress, HostReport, TrainingResult, train

__all__ = [
    "HYPERPARAMETER_SPECS",
    "ClusterModel",
    "EpochProgress",
    "HostReport",
    "LinearLearnerParams",
    "TrainingResult",
    "instance_vcpus",
    "model_grid",
    "parse_hyperparameters",
    "train",
]
