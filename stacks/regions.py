"""Regions of the Linear Learner image map where part of the stack cannot be created.

CloudFormation has no `AWS::SageMaker::NotebookInstance` / `NotebookInstanceLifecycleConfig` in these regions
(cfn-lint E3006 over the whole image map; `tests/test_stack_checks.py` runs it). The pipeline works there, so
the region rule keeps admitting them and the optional notebook is left out instead: by a CloudFormation
condition in the region-agnostic template, and at synth time (with a warning) when the stack's region is known.
"""

from __future__ import annotations

from aws_cdk import Annotations, Aws, CfnCondition, CfnResource, Fn, Stack, Token
from constructs import IConstruct

NOTEBOOK_UNAVAILABLE_REGIONS = ("me-central-1", "us-gov-east-1")
NOTEBOOK_CONDITION_ID = "NotebookAvailableInRegion"


def notebook_supported_here(stack: Stack) -> bool:
    """False (with a synth warning) when the stack's region is known and has no notebook resource types."""
    if Token.is_unresolved(stack.region) or stack.region not in NOTEBOOK_UNAVAILABLE_REGIONS:
        return True
    Annotations.of(stack).add_warning_v2(
        "shardlab:notebookUnavailable",
        f"{stack.region} has no SageMaker notebook instances in CloudFormation: the stack is deployed without "
        "the notebook (run the notebooks locally, see README 'Notebooks').",
    )
    return False


def only_where_notebooks_exist(scope: IConstruct) -> CfnCondition:
    """Puts every CloudFormation resource under `scope` behind a condition: not in an unavailable region."""
    stack = Stack.of(scope)
    unavailable = [Fn.condition_equals(Aws.REGION, region) for region in NOTEBOOK_UNAVAILABLE_REGIONS]
    condition = CfnCondition(
        stack, NOTEBOOK_CONDITION_ID,
        expression=Fn.condition_not(Fn.condition_or(*unavailable) if len(unavailable) > 1 else unavailable[0]),
    )
    for construct in scope.node.find_all():
        if isinstance(construct, CfnResource):
            construct.cfn_options.condition = condition
    return condition
