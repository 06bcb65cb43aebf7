"""Markers the stack sets at synth on the resources local mode and the tests look up in the template.

Each marked resource carries CloudFormation ``Metadata: {"shardlab:part": ...}``: ``state-machine`` on the
pipeline's state machine, ``lambda:<handler>`` on every Lambda whose code is ``lambdas/``. ``local.template``
reads them, so nothing selects resources by name patterns (CDK adds state machines and Lambdas of its own).
"""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import Construct

PART = "shardlab:part"
STATE_MACHINE = "state-machine"
LAMBDA_PREFIX = "lambda:"


def mark(construct: Construct, part: str) -> None:
    """Set the marker on ``construct``'s CloudFormation resource (its default child)."""
    resource = construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to mark")
    resource.add_metadata(PART, part)


def lambda_part(handler: str) -> str:
    return f"{LAMBDA_PREFIX}{handler}"
