"""The words shardlab's parts share: the Lambdas, the stack (`stacks/`) and local mode (`local/`) import them here.

A run trains the same Linear Learner job twice; each of the two is a *branch* (the word used everywhere: the
config's `names`, the Parallel states' branches, the report's `models`). A branch differs from the other only in
its train channel's S3DataDistributionType. The notebook helper (`notebooks/shardlab_notebook.py`) ships alone to
the notebook instance and keeps a copy of what it needs; `tests/test_vocabulary.py` holds the copy equal.
"""

from __future__ import annotations

import re

# --- the two branches ------------------------------------------------------------------------------------------

FULLY_REPLICATED = "FullyReplicated"
SHARDED_BY_S3_KEY = "ShardedByS3Key"
REPLICATED = "replicated"
SHARDED = "sharded"
# The order is the Parallel states' branch order and the report's column order.
BRANCHES = (REPLICATED, SHARDED)
DISTRIBUTION_TYPES = {REPLICATED: FULLY_REPLICATED, SHARDED: SHARDED_BY_S3_KEY}
# How state names spell a branch ("Train fully replicated").
BRANCH_LABELS = {REPLICATED: "fully replicated", SHARDED: "sharded by S3 key"}

# --- channels and content types ----------------------------------------------------------------------------

TRAIN_CHANNEL = "train"
VALIDATION_CHANNEL = "validation"
# The test year's folder beside the channels' (no training job reads it: the compare step scores it).
TEST_CHANNEL = "test"
# The hyperparameters a sweep may vary, in the grid's order after instanceCount.
SWEPT_HYPERPARAMETERS = ("epochs", "mini_batch_size")
# A dataset's manifest, written last beside its channel folders (the compare step reads its label sums).
DATASET_MANIFEST = "manifest.json"
# The validation channel is never sharded: every host scores the whole validation set.
VALIDATION_DISTRIBUTION_TYPE = FULLY_REPLICATED

RECORDIO_PROTOBUF = "application/x-recordio-protobuf"
CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"

# --- CloudWatch metrics (the compare Lambda puts them; the stack's dashboard searches them) -------------------

METRIC_DIMENSIONS = ("DistributionType", "RunId")
# The DistributionType dimension of the naive baseline's datum (it is neither branch).
NAIVE_BASELINE = "NaiveMeanBaseline"
TEST_MSE = "TestMSE"
TRAINING_TIME = "TrainingTimeInSeconds"
BILLABLE_INSTANCE_SECONDS = "BillableInstanceSeconds"
TRAINING_SPEED_UP = "TrainingSpeedUp"

# --- tags on what a run creates (the clean-up deletes only what carries its stack's tag) -------------------------

STACK_TAG = "shardlab:stack"
RUN_TAG = "shardlab:run"

# --- SageMaker's own log groups (SageMaker writes them; the stack grants them, the clean-up deletes a run's part) -

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"  # shared by every job: a stream per host, <job>/algo-<n>-...
ENDPOINT_LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"  # a group per endpoint: <prefix><endpoint name>
NOTEBOOK_LOG_GROUP = "/aws/sagemaker/NotebookInstances"

# --- S3 URIs -------------------------------------------------------------------------------------------------

# SageMaker's own S3Uri rule (botocore's pattern ^(https|s3)://([^/]+)/?(.*)$, s3 only): the key may be empty.
_S3_URI = re.compile(r"s3://([^/]+)(?:/(.*))?", re.DOTALL)


def parse_s3_uri(uri: object) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``("bucket", "key")``; ``s3://bucket`` and ``s3://bucket/`` have the key ``""``.

    Raises ValueError naming the URI; callers re-raise it as their own error type."""
    match = _S3_URI.fullmatch(uri) if isinstance(uri, str) else None
    if match is None:
        raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
    return match.group(1), match.group(2) or ""
