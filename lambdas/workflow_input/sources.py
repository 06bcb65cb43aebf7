"""The source locations a deployment may read (cdk.json "shardlab:sourceLocations").

The stack grants the data-preparation and notebook roles read access to exactly these, and passes them to the
first state in SHARDLAB_SOURCE_LOCATIONS; a sourceBucket/sourcePrefix outside all of them is refused there.
"""

from __future__ import annotations

import json

from lambdas.lambda_common.vocabulary import parse_s3_uri
from lambdas.workflow_input.validators import BUCKET_NAME, InvalidExecutionInputError

# The default of cdk.json context "shardlab:sourceLocations" (stacks/config.py's row; a test holds them equal).
DEFAULT_SOURCE_LOCATIONS = ["s3://gdelt-open-data/events/"]
SOURCE_LOCATIONS_CONTEXT = "shardlab:sourceLocations"


def parse_source_location(location: object) -> tuple[str, str]:
    """`s3://bucket/prefix/` (or `s3://bucket/`) -> (bucket, prefix).

    Stricter than an S3 URI: a real bucket name, and a prefix that ends in '/' (IAM grants are made from it)."""
    if not isinstance(location, str) or not location.startswith("s3://"):
        raise ValueError(f"source location {json.dumps(location)} must look like s3://bucket/prefix/")
    malformed = ValueError(
        f"source location {json.dumps(location)} must be s3://<bucket name>/<key prefix ending in '/'> "
        "(or s3://<bucket name>/ for the whole bucket)"
    )
    try:
        bucket, prefix = parse_s3_uri(location)
    except ValueError:  # no bucket at all ("s3://", "s3:///events/")
        raise malformed from None
    if not BUCKET_NAME.match(bucket) or (prefix and not prefix.endswith("/")) or "*" in prefix:
        raise malformed
    return bucket, prefix


def source_location_covers(location: str, bucket: str, prefix: str) -> bool:
    location_bucket, location_prefix = parse_source_location(location)
    return bucket == location_bucket and prefix.startswith(location_prefix)


def check_source_readable(bucket: str, prefix: str, locations: list[str] | tuple[str, ...]) -> None:
    if any(source_location_covers(location, bucket, prefix) for location in locations):
        return
    wanted = f"s3://{bucket}/{prefix}"
    all_locations = json.dumps([*locations, wanted])
    raise InvalidExecutionInputError(
        f"sourceBucket/sourcePrefix {wanted} is outside the locations this deployment may read "
        f"({', '.join(locations)}), so reading it would fail with AccessDenied. To use it, add it to the cdk.json "
        f"context \"{SOURCE_LOCATIONS_CONTEXT}\" and deploy again, e.g. "
        f"cdk deploy -c '{SOURCE_LOCATIONS_CONTEXT}={all_locations}'"
    )
