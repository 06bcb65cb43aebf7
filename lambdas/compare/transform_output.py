"""Reading both batch transform jobs' outputs (`scoring` `transform`) in record order, paired with the test labels.

A transform job over the test prefix writes one `<S3OutputPath><key below the test prefix>.out` per test object;
with `AssembleWith` `Line` and `Accept` `application/jsonlines` it holds one `{"score": x}` line per record,
in the object's record order (docs: "Linear learner response formats", "Use batch transform with built-in
algorithms"). Each test object's labels are streamed from the object itself and paired line by line; an output
that is missing or holds another number of scores fails naming the object.
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lambdas.compare.scoring import ScoredTestSet
from lambdas.compare.testdata import CsvBatch, DatasetError, iter_dense_runs, parse_s3_uri

_LABEL_RUN_ROWS = 65536
_HEAD = b'{"score": '
_TAIL = b"}"


class TransformOutputError(DatasetError):
    """A transform output is missing or does not pair with its test object."""


@dataclass(frozen=True)
class ObjectScores:
    """One test object's labels and each branch's scores, in record order (``batch.index``: the object's)."""

    batch: CsvBatch
    scores: dict[str, array]
    output_bytes: int


def parse_jsonlines_scores(body: bytes, where: str) -> array:
    """The scores of a JSON Lines body of `{"score": number}` lines (blank lines skipped)."""
    lines = [line for line in body.split(b"\n") if line.strip()]
    if all(line.startswith(_HEAD) and line.endswith(_TAIL) for line in lines):
        try:  # the exact spelling the container writes: no json.loads per line
            scores = array("d", map(float, (line[len(_HEAD) : -len(_TAIL)] for line in lines)))
        except ValueError:
            scores = None
    else:
        scores = None
    if scores is None:
        try:
            values = [json.loads(line)["score"] for line in lines]
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                raise TypeError("a score is not a number")
        except (ValueError, KeyError, TypeError) as error:
            raise TransformOutputError(
                f'{where}: not JSON Lines of {{"score": number}} ({error}); first bytes: {body[:200]!r}'
            ) from error
        scores = array("d", values)
    if not all(map(math.isfinite, scores)):
        raise TransformOutputError(f"{where}: a score is not a finite number")
    return scores


def _test_keys(s3: Any, test_data: str) -> tuple[str, str, list[str]]:
    bucket, prefix = parse_s3_uri(test_data)
    if not prefix.endswith("/"):  # one object: its output is named after its file name
        return bucket, (prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""), [prefix]
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if not item["Key"].endswith("/")
    ]
    if not keys:
        raise DatasetError(f"no test objects under {test_data}")
    return bucket, prefix, sorted(keys, key=str.encode)  # S3 key order, the order the jobs read them in


def _labels(s3: Any, bucket: str, key: str) -> array:
    labels = array("d")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for run in iter_dense_runs(body, f"s3://{bucket}/{key}", _LABEL_RUN_ROWS):
        labels += array("d", run.labels())
    return labels


def _output(s3: Any, output_prefix: str, relative_key: str) -> tuple[str, bytes]:
    bucket, prefix = parse_s3_uri(output_prefix)
    key = f"{prefix.rstrip('/')}/{relative_key}.out" if prefix else f"{relative_key}.out"
    uri = f"s3://{bucket}/{key}"
    try:
        return uri, s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey as error:
        raise TransformOutputError(f"the transform output {uri} does not exist") from error


def iter_transform_scores(s3: Any, test_data: str, outputs: Mapping[str, str]) -> Iterator[ObjectScores]:
    """Per test object (S3 key order): its labels and each branch's scores from ``outputs`` (branch → prefix)."""
    bucket, prefix, keys = _test_keys(s3, test_data)
    for index, key in enumerate(keys):
        labels = _labels(s3, bucket, key)
        scores: dict[str, array] = {}
        output_bytes = 0
        for branch, output_prefix in outputs.items():
            uri, body = _output(s3, output_prefix, key[len(prefix) :])
            scores[branch] = parse_jsonlines_scores(body, uri)
            output_bytes += len(body)
            if len(scores[branch]) != len(labels):
                raise TransformOutputError(
                    f"{uri} holds {len(scores[branch])} scores but s3://{bucket}/{key} has {len(labels)} records"
                )
        yield ObjectScores(CsvBatch(index, b"", labels), scores, output_bytes)


def read_transform_scores(
    s3: Any,
    test_data: str,
    outputs: Mapping[str, str],
    *,
    on_scored: Callable[[str, CsvBatch, array], None],
    batches_then_label_spread: Callable[[Iterator[CsvBatch]], Iterator[CsvBatch]],
) -> ScoredTestSet:
    """Both jobs' scores in record order, handed to ``on_scored`` per test object as the endpoints' are per batch.

    ``batches_then_label_spread`` sees every object's labels (the compare step's tally computes R²'s
    denominator from them); a transform job makes no requests the compare step could count."""
    read: dict[int, ObjectScores] = {}

    def batches() -> Iterator[CsvBatch]:
        for item in iter_transform_scores(s3, test_data, outputs):
            read[item.batch.index] = item
            yield item.batch

    labels = array("d")
    predictions = {branch: array("d") for branch in outputs}
    objects = largest = 0
    for batch in batches_then_label_spread(batches()):
        item = read.pop(batch.index)
        labels.extend(batch.labels)
        for branch, scores in item.scores.items():
            on_scored(branch, batch, scores)
            predictions[branch].extend(scores)
        objects += 1
        largest = max(largest, item.output_bytes)
    return ScoredTestSet(labels=labels, predictions=predictions, batches=objects, largest_request_bytes=0,
                         requests=dict.fromkeys(outputs, 0))
