"""Linear Learner's input channels in File mode: which S3 objects each host downloads, and the rows in them.

- Listing (``S3DataType``): ``S3Prefix``, every object whose key starts with the channel's ``S3Uri``, in S3
  listing order (UTF-8 binary order), keys ending in ``/`` (folder markers) skipped; ``ManifestFile``, the
  objects the manifest at ``S3Uri`` names (``[{"prefix": "s3://bucket/prefix/"}, "relative/key", ...]``), in
  its order (the SageMaker Python SDK's ``record_set`` writes one).
- Assignment (``S3DataDistributionType``): ``FullyReplicated`` gives every host every object;
  ``ShardedByS3Key`` gives host ``algo-(i+1)`` the objects ``keys[i::n]``, round-robin, "approximately 1/n of
  the number of S3 objects". The rule is ``lambdas.lambda_common.sharding.assigned_objects`` (its docstring says why
  data preparation names objects so that hosts get equal work). Hosts without objects train nothing.
- Decoding (``ContentType``): ``application/x-recordio-protobuf`` (the default) as dense records, or
  ``text/csv`` with the label in the first column.
- Channels: ``train`` (required), ``validation`` and ``test``. Every host downloads its own assignment of
  every channel; training evaluates on algo-1's copy of the validation and test channels.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lambdas.lambda_common.sharding import assigned_objects
from lambdas.lambda_common.vocabulary import (
    CSV,
    FULLY_REPLICATED,
    RECORDIO_PROTOBUF,
    SHARDED_BY_S3_KEY,
    TEST_CHANNEL,
    TRAIN_CHANNEL,
    VALIDATION_CHANNEL,
    parse_s3_uri,
)
from local.errors import TrainingFailedError, client_error
from local.recordio_np import read_dense

# linear-learner's channels; the third, test, is scored after training (the pipeline sends none).
LINEAR_LEARNER_CHANNELS = (TRAIN_CHANNEL, VALIDATION_CHANNEL, TEST_CHANNEL)


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int


@dataclass
class Shard:
    """One S3 object's rows."""

    key: str
    features: np.ndarray
    labels: np.ndarray | None
    size: int


@dataclass(frozen=True)
class TrainingInput:
    """What the hosts downloaded: each host's train shards, the validation and test shards (algo-1's copy)."""

    host_shards: list[list[Shard]]
    validation: list[Shard]
    test: list[Shard]
    download_bytes: int  # the most bytes any one host downloads


def s3_location(uri: str) -> tuple[str, str]:
    """(bucket, key or prefix) of an ``s3://`` URI; a bad URI fails the job as the algorithm reports it."""
    try:
        return parse_s3_uri(uri)
    except ValueError as error:
        raise client_error(f"{uri!r} is not an s3:// URI") from error


def list_channel_objects(s3_client: Any, s3_uri: str) -> list[S3Object]:
    """Every object whose key starts with the prefix, in S3 listing order, folder markers skipped."""
    bucket, prefix = s3_location(s3_uri)
    objects: list[S3Object] = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/"):
                continue
            objects.append(S3Object(item["Key"], int(item["Size"])))
    return objects


def manifest_objects(s3_client: Any, manifest_uri: str) -> tuple[str, list[S3Object]]:
    """(bucket, objects) a ManifestFile channel names: ``[{"prefix": "s3://b/p/"}, "key1", ...]``, in its order."""
    bucket, key = s3_location(manifest_uri)
    try:
        document = json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ValueError as error:
        raise client_error(f"manifest file {manifest_uri} is not JSON: {error}") from error
    if not (isinstance(document, list) and document and isinstance(document[0], dict) and "prefix" in document[0]):
        raise client_error(f'manifest file {manifest_uri} must be a JSON list starting with {{"prefix": "s3://..."}}')
    data_bucket, prefix = s3_location(document[0]["prefix"])
    objects = []
    for relative in document[1:]:
        if not isinstance(relative, str):
            raise client_error(f"manifest file {manifest_uri}: entry {relative!r} is not a relative key")
        size = s3_client.head_object(Bucket=data_bucket, Key=prefix + relative)["ContentLength"]
        objects.append(S3Object(prefix + relative, int(size)))
    return data_bucket, objects


def channel_objects(s3_client: Any, source: Mapping[str, Any]) -> tuple[str, list[S3Object]]:
    """(bucket, objects) of a channel's S3DataSource: an S3Prefix's listing, or what a ManifestFile names."""
    if source.get("S3DataType", "S3Prefix") == "ManifestFile":
        return manifest_objects(s3_client, source["S3Uri"])
    return s3_location(source["S3Uri"])[0], list_channel_objects(s3_client, source["S3Uri"])


def assign_objects(objects: Sequence[S3Object], instance_count: int, distribution: str) -> list[list[S3Object]]:
    """The objects each host ``algo-(i+1)`` receives under ``distribution`` (the module docstring's rule)."""
    if distribution not in (FULLY_REPLICATED, SHARDED_BY_S3_KEY):
        raise client_error(f"S3DataDistributionType {distribution!r} is not supported")
    by_key = {obj.key: obj for obj in objects}
    return [[by_key[key] for key in keys] for keys in assigned_objects(list(by_key), instance_count, distribution)]


def decode_object(body: bytes, content_type: str | None, key: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(features, labels) of one object; labels are None for records without one."""
    media_type = (content_type or RECORDIO_PROTOBUF).split(";")[0].strip().lower()
    if media_type == RECORDIO_PROTOBUF:
        try:
            return read_dense(body)
        except ValueError as error:
            raise client_error(f"s3 object {key} is not dense recordIO-protobuf: {error}") from error
    if media_type == CSV:
        try:
            table = np.loadtxt(io.BytesIO(body), delimiter=",", dtype=np.float32, ndmin=2)
        except ValueError as error:
            raise client_error(f"s3 object {key} is not numeric CSV: {error}") from error
        if table.shape[1] < 2:
            raise client_error(f"CSV object {key} needs a label column and at least one feature")
        return np.ascontiguousarray(table[:, 1:]), np.ascontiguousarray(table[:, 0])
    raise client_error(f"content type {content_type!r} is not supported (use {RECORDIO_PROTOBUF} or {CSV})")


def read_objects(
    s3_client: Any, bucket: str, objects: Sequence[S3Object], content_type: str | None
) -> dict[str, Shard]:
    shards: dict[str, Shard] = {}
    for obj in objects:
        body = s3_client.get_object(Bucket=bucket, Key=obj.key)["Body"].read()
        features, labels = decode_object(body, content_type, obj.key)
        shards[obj.key] = Shard(obj.key, features, labels, len(body))
    return shards


def _input_config_error(detail: str) -> TrainingFailedError:
    return client_error(
        f"Unable to initialize the algorithm. Failed to validate input data configuration. (caused by "
        f"ValidationError) {detail}"
    )


def check_channel_names(channels: Mapping[str, Any]) -> None:
    """linear-learner's channels are train (required), validation and test."""
    unknown = sorted(set(channels) - set(LINEAR_LEARNER_CHANNELS))
    if unknown:
        raise _input_config_error(
            f"Additional properties are not allowed ({', '.join(map(repr, unknown))} "
            "unexpected; linear-learner channels are train, validation, test)"
        )
    if TRAIN_CHANNEL not in channels:
        raise _input_config_error(f"'{TRAIN_CHANNEL}' is a required property")


def download_channels(s3: Any, channels: Mapping[str, Mapping[str, Any]], hosts: int) -> TrainingInput:
    """Every host's objects of every channel (``InputDataConfig`` by ChannelName), split by distribution type."""
    check_channel_names(channels)
    per_channel: dict[str, list[list[S3Object]]] = {}
    shards: dict[str, dict[str, Shard]] = {}
    for channel_name, channel in channels.items():
        source = channel["DataSource"]["S3DataSource"]
        bucket, objects = channel_objects(s3, source)
        per_channel[channel_name] = assign_objects(
            objects, hosts, source.get("S3DataDistributionType", FULLY_REPLICATED)
        )
        needed = {obj.key: obj for host in per_channel[channel_name] for obj in host}
        shards[channel_name] = read_objects(s3, bucket, list(needed.values()), channel.get("ContentType"))

    def first_host(channel_name: str) -> list[Shard]:
        if channel_name not in channels:
            return []
        return [shards[channel_name][obj.key] for obj in per_channel[channel_name][0]]

    return TrainingInput(
        host_shards=[[shards[TRAIN_CHANNEL][obj.key] for obj in host] for host in per_channel[TRAIN_CHANNEL]],
        validation=first_host(VALIDATION_CHANNEL),
        test=first_host(TEST_CHANNEL),
        download_bytes=max(
            sum(obj.size for channel_hosts in per_channel.values() for obj in channel_hosts[host])
            for host in range(hosts)
        ),
    )
