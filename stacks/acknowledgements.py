"""How a construct acknowledges a cdk-nag (AwsSolutions) finding, beside the statement or resource it excuses.

Findings are acknowledged one by one (cdk-nag v3 ids `AwsSolutions::<rule>[<finding>]`) on the construct
that owns them (a role, a bucket, the notebook instance), never on the whole stack, so a new wildcard anywhere
else still fails `cdk synth` and the nag test. Each acknowledgement carries the reason it is acceptable.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from constructs import IConstruct

PACK = "AwsSolutions::"
# How cdk-nag spells the ARN prefixes a finding's resource starts with.
SAGEMAKER_ARN = "arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>"
LOGS_ARN = "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>"
STATES_ARN = "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>"
S3_ARN = "arn:<AWS::Partition>:s3:::"

RUNTIME_NAMES = (
    "runtime SageMaker resources are named <prefix>-<runId>-<branch> per execution, so no static name exists; "
    "scoped to this stack's prefix, the narrowest pattern AWS allows"
)


def ack(scope: IConstruct, finding: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=PACK + finding, reason=reason))


def iam5(resource: str) -> str:
    """The finding of a wildcard `resource` (cdk-nag's spelling: tokens as <LogicalId.Attr>, <AWS::Region>)."""
    return f"AwsSolutions-IAM5[Resource::{resource}]"


def _logical_id(construct: IConstruct) -> str:
    child = construct.node.default_child
    element = child if isinstance(child, CfnElement) else construct
    assert isinstance(element, CfnElement)
    stack = Stack.of(construct)
    return str(stack.resolve(stack.get_logical_id(element)))


def arn_of(construct: IConstruct) -> str:
    """How cdk-nag spells the construct's ARN in a finding: `<LogicalId.Arn>`."""
    return f"<{_logical_id(construct)}.Arn>"
