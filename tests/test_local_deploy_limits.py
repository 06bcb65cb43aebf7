"""Local mode's deployment refuses what a new AWS account's CloudFormation deployment would refuse."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from local.cfn import LocalDeployment
from local.runner import LocalModeError, LocalShardlab, check_lambda_limits
from local.template import lambda_functions

pytest_plugins = ["conftest_stack"]


def test_the_stack_fits_a_new_accounts_lambda_memory_quota(template: dict[str, Any]) -> None:
    check_lambda_limits(LocalDeployment(template))


def test_a_function_above_3008_mb_is_refused_with_lambdas_message(template: dict[str, Any]) -> None:
    too_big = copy.deepcopy(template)
    (shard,) = [lid for lid, f in lambda_functions(too_big).items() if f["handler"] == "lambdas.dataprep.handler.shard"]
    too_big["Resources"][shard]["Properties"]["MemorySize"] = 8192
    with pytest.raises(LocalModeError) as refused, LocalShardlab(too_big):
        pass
    message = str(refused.value)
    assert message.startswith(f"{shard} CREATE_FAILED")
    assert ("Value '8192' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal "
            "to 3008") in message
