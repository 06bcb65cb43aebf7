"""``python -m local verify-aws``: send a recorded suite to Step Functions' TestState and compare.

The definition is the deployed one (``--stack``: CloudFormation names the state machine, ``DescribeStateMachine``
returns it) or, with nothing deployed, the synthesized template resolved for the caller's account and region.
Every entry goes out with its mock in STRICT mode; an entry whose state would call a service without a mock is
never sent. At most ``--concurrency`` requests are in flight; throttling is retried with exponential backoff.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TextIO

from botocore.config import Config
from botocore.exceptions import ClientError

from local.cfn import LocalDeployment
from local.template import state_machine_definition, synth_template
from local.teststate.replay import missing_mock
from local.teststate.suite import request_of

THROTTLING_CODES = {"ThrottlingException", "TooManyRequestsException", "Throttling", "RequestLimitExceeded"}
STATE_MACHINE_TYPE = "AWS::StepFunctions::StateMachine"


@dataclass(frozen=True)
class Verdict:
    state: str
    aws_status: str
    same_output: bool
    same_next_state: bool
    difference: str = ""

    @property
    def ok(self) -> bool:
        return not self.difference


def first_difference(expected: Any, actual: Any, path: str = "$") -> str | None:  # noqa: PLR0911 -- one return per JSON kind
    """The JSON path of the first place two JSON values differ (None: equal)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual)):
            if key not in actual or key not in expected:
                return f"{path}.{key}"
            found = first_difference(expected[key], actual[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"{path} (length {len(expected)} != {len(actual)})"
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            found = first_difference(left, right, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if expected == actual and type(expected) is type(actual) else path


def compare(entry: dict[str, Any], answer: dict[str, Any]) -> Verdict:
    """Local mode's expectation of one entry against TestState's answer."""
    state, status = entry["stateName"], answer.get("status", "")
    if status != entry["status"]:
        detail = f"{answer.get('error', '')} {answer.get('cause', '')}".strip()
        return Verdict(state, status, False, False, f"status {status} (local mode: {entry['status']}) {detail}"[:300])
    if status == "FAILED":
        same = answer.get("error") == entry.get("error")
        return Verdict(state, status, same, True, "" if same else f"error {answer.get('error')!r}")
    if status == "RETRIABLE":
        return Verdict(state, status, True, True)
    path = first_difference(json.loads(entry.get("output", "null")), json.loads(answer.get("output") or "null"))
    same_next = answer.get("nextState") == entry.get("nextState")
    problems = ([f"output differs at {path}"] if path else []) + (
        [] if same_next else [f"nextState {answer.get('nextState')!r} (local mode: {entry.get('nextState')!r})"]
    )
    return Verdict(state, status, path is None, same_next, "; ".join(problems))


def call_with_backoff(
    call: Callable[[], dict[str, Any]], *, attempts: int = 8, base_seconds: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """``call()``, retried with exponential backoff while the service throttles."""
    for attempt in range(attempts):
        try:
            return call()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in THROTTLING_CODES or attempt == attempts - 1:
                raise
            sleep(min(base_seconds * 2**attempt, 20.0))
    raise AssertionError("unreachable")


def verify(
    sfn: Any, suite: dict[str, Any], definition: str, *, concurrency: int = 4,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Verdict]:
    """One verdict per entry, in the suite's order; nothing is sent for an entry without its needed mock."""
    parsed = json.loads(definition)

    def check(entry: dict[str, Any]) -> Verdict:
        request = request_of(entry, definition)
        refusal = missing_mock(parsed, request) or entry.get("unsendable")
        if refusal:
            return Verdict(entry["stateName"], "NOT SENT", False, False, refusal)
        try:
            answer = call_with_backoff(lambda: sfn.test_state(**request), sleep=sleep)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Error")
            return Verdict(entry["stateName"], code, False, False, str(error)[:300])
        return compare(entry, answer)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(check, suite["entries"]))


def print_table(verdicts: list[Verdict], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    width = max([len("state"), *(len(v.state) for v in verdicts)])
    out.write(f"{'state':<{width}}  {'AWS status':<12}  same output  same next state\n")
    for v in verdicts:
        out.write(
            f"{v.state:<{width}}  {v.aws_status:<12}  {'yes' if v.same_output else 'NO':<11}  "
            f"{'yes' if v.same_next_state else 'NO'}\n"
        )
    for v in verdicts:
        if not v.ok:
            out.write(f"DIFFERS: {v.state}: {v.difference}\n")
    failed = sum(not v.ok for v in verdicts)
    out.write(f"{len(verdicts) - failed} of {len(verdicts)} states agree with local mode\n")


def deployed_definition(session: Any, *, stack: str | None, state_machine_arn: str | None,
                        endpoint_url: str | None) -> str:
    """The deployed state machine's definition (by ARN, or the stack's only state machine)."""
    if not state_machine_arn:
        resources = session.client("cloudformation").describe_stack_resources(StackName=stack)["StackResources"]
        arns = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == STATE_MACHINE_TYPE]
        if len(arns) != 1:
            raise SystemExit(f"stack {stack!r} has {len(arns)} state machines; give --state-machine-arn")
        state_machine_arn = arns[0]
    sfn = sfn_client(session, endpoint_url)
    answer = call_with_backoff(lambda: sfn.describe_state_machine(stateMachineArn=state_machine_arn))
    return str(answer["definition"])


def sfn_client(session: Any, endpoint_url: str | None = None) -> Any:
    """A Step Functions client that leaves throttling to ``call_with_backoff`` (one attempt per call)."""
    # TestState goes to the sync-states.<region> host on AWS; a loopback stand-in takes it on its own address.
    config = Config(retries={"total_max_attempts": 1}, inject_host_prefix=endpoint_url is None)
    return session.client("stepfunctions", endpoint_url=endpoint_url, config=config)


def synthesized_definition(session: Any) -> str:
    """The synthesized template's definition, with names and ARNs resolved for the caller's account/region."""
    account = session.client("sts").get_caller_identity()["Account"]
    deployment = LocalDeployment(synth_template(), account_id=account, region=session.region_name)
    return json.dumps(state_machine_definition(deployment))
