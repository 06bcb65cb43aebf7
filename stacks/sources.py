"""Read access to the GDELT source locations (cdk.json `shardlab:sourceLocations`), outside the stack's bucket."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_iam as iam

from lambdas.workflow_input.sources import parse_source_location
from stacks.acknowledgements import S3_ARN, ack, iam5
from stacks.names import source_bucket_arn

SOURCES_REASON = ("read-only on the source locations of cdk.json shardlab:sourceLocations (by default the public "
                  "gdelt-open-data/events/ yearly files); the objects are chosen per run")


def grant_source_read(grantee: iam.IRole, source_locations: Sequence[str], *, use: str = "") -> None:
    """Read (and list, so a missing key is a 404, not a 403) every location; `use` adds why this grantee reads."""
    sid = "ReadSourceLocations"
    locations = [parse_source_location(location) for location in source_locations]
    statements = [iam.PolicyStatement(sid=sid, actions=["s3:GetObject"],
                                      resources=[f"{source_bucket_arn(b)}/{p}*" for b, p in locations])]
    for bucket in dict.fromkeys(b for b, _ in locations):
        statements.append(iam.PolicyStatement(
            sid=f"List{sid}{len(statements)}", actions=["s3:ListBucket"], resources=[source_bucket_arn(bucket)],
            conditions={"StringLike": {"s3:prefix": [f"{p}*" for b, p in locations if b == bucket]}},
        ))
    for statement in statements:
        grantee.add_to_principal_policy(statement)
    reason = f"{SOURCES_REASON} ({use})" if use else SOURCES_REASON
    for bucket, prefix in locations:
        ack(grantee, iam5(f"{S3_ARN}{bucket}/{prefix}*"), reason)
