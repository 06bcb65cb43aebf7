"""The decoded state machine definition: every Task's request is one AWS accepts, and every action a Task
or Lambda performs is allowed by its role's policy, scoped no wider than the stack's prefix; and the stage map
(docs/ARCHITECTURE.md) names every state, and only what exists.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
from botocore.model import Shape
from botocore.validate import validate_parameters
from conftest_stack import local_resolver

from lambdas.lambda_common.vocabulary import BRANCH_LABELS, BRANCHES
from lambdas.workflow_input.config import build_config
from local.template import REPO_ROOT, lambda_functions, state_machine_logical_id
from stacks.workflow import Pipeline

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET_LID_PREFIX = "StorageBucket"
SESSION = botocore.session.get_session()
MODELS = {name: SESSION.get_service_model(name) for name in ("sagemaker", "lambda")}


# --- walking the definition -----------------------------------------------------------------------------


def all_states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in definition["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from all_states(branch)
        if "ItemProcessor" in state:
            yield from all_states(state["ItemProcessor"])


def tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: state for name, state in all_states(definition) if state["Type"] == "Task"}


def api_of(resource: str) -> tuple[str, str]:
    """(service, operation name) a Task calls; `.sync` calls the same API and then polls."""
    match = re.fullmatch(r"arn:aws:states:::(?:aws-sdk:)?([a-z]+):([A-Za-z]+)(?:\.sync)?", resource)
    assert match, resource
    service, action = match.groups()
    return service, action[0].upper() + action[1:]


# --- (b) requests against botocore's models --------------------------------------------------------------


def check_literal_shape(value: Any, shape: Shape, where: str) -> list[str]:  # noqa: C901, PLR0912 -- one branch per botocore shape type
    """Literal (non-JSONPath) parts must fit the shape; `.$` keys are checked by evaluation below."""
    problems: list[str] = []
    if shape.type_name == "structure":
        if not isinstance(value, dict):
            return [f"{where}: expected an object"]
        given = {key.removesuffix(".$") for key in value}
        for key in given - set(shape.members):
            problems.append(f"{where}.{key}: not a member of {shape.name}")
        for key in set(shape.required_members) - given:
            problems.append(f"{where}.{key}: required by {shape.name}")
        for key, item in value.items():
            if not key.endswith(".$") and key in shape.members:
                problems += check_literal_shape(item, shape.members[key], f"{where}.{key}")
    elif shape.type_name == "list":
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        for index, item in enumerate(value):
            problems += check_literal_shape(item, shape.member, f"{where}[{index}]")
    elif shape.type_name == "blob":
        pass  # Lambda's Payload: Step Functions serializes the JSON object
    else:
        try:
            validate_parameters({"v": value}, _wrapper(shape))
        except Exception as error:  # botocore raises ParamValidationError with the reason
            problems.append(f"{where}: {error}")
        # botocore does not check enums client-side; SageMaker rejects unknown values.
        enum = shape.metadata.get("enum")
        if enum and value not in enum:
            problems.append(f"{where}: {value!r} is not one of {shape.name}")
    return problems


def _wrapper(shape: Shape) -> Shape:
    from botocore.model import StructureShape

    class Wrapper(StructureShape):
        @property
        def members(self) -> dict[str, Shape]:  # type: ignore[override]
            return {"v": shape}

    return Wrapper("Wrapper", {"type": "structure", "members": {}})


def test_every_task_calls_a_known_api_with_literal_fields_that_fit_its_model(definition: dict[str, Any]) -> None:
    found = tasks(definition)
    apis = {api_of(state["Resource"]) for state in found.values()}
    assert apis == {("lambda", "Invoke"), ("sagemaker", "CreateTrainingJob"), ("sagemaker", "CreateModel"),
                    ("sagemaker", "CreateEndpointConfig"), ("sagemaker", "CreateEndpoint"),
                    ("sagemaker", "DescribeEndpoint"), ("sagemaker", "CreateTransformJob")}
    problems = []
    for name, state in found.items():
        service, operation = api_of(state["Resource"])
        input_shape = MODELS[service].operation_model(operation).input_shape
        problems += check_literal_shape(state["Parameters"], input_shape, name)
    assert problems == []


# A tiny JSONPath evaluator: enough for the paths and intrinsics the SageMaker tasks use.
def evaluate(expression: str, state: dict[str, Any]) -> Any:
    expression = expression.strip()
    if expression.startswith("States.Format("):
        inner = expression[len("States.Format("):-1]
        template_match = re.match(r"'((?:[^'\\]|\\.)*)'\s*,?\s*(.*)$", inner)
        assert template_match, expression
        text, rest = template_match.groups()
        arguments = [evaluate(a, state) for a in rest.split(",") if a.strip()]
        pieces = text.split("{}")
        assert len(pieces) == len(arguments) + 1, expression
        return "".join(p + (str(a) if i < len(arguments) else "") for i, (p, a) in
                       enumerate(zip(pieces, [*arguments, ""], strict=True)))
    assert expression.startswith("$."), expression
    value: Any = state
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", expression[2:]):
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    return value


def materialize(parameters: Any, state: dict[str, Any]) -> Any:
    if isinstance(parameters, dict):
        return {key.removesuffix(".$"): evaluate(item, state) if key.endswith(".$") else materialize(item, state)
                for key, item in parameters.items()}
    if isinstance(parameters, list):
        return [materialize(item, state) for item in parameters]
    return parameters


def sample_state(execution_input: dict[str, Any]) -> dict[str, Any]:
    config = build_config(execution_input, execution_name="a-rather-long-execution-name-from-the-console-1234",
                          bucket="shardlab-bucket-abc", resource_prefix="shardlab")
    artifacts = {v: {"trainingJobName": config["names"][v],
                     "modelArtifacts": f"s3://shardlab-bucket-abc/{config['runPrefix']}training/"
                                       f"{config['names'][v]}/output/model.tar.gz"} for v in config["names"]}
    return {"config": config, "hyperParameters": {"values": {**config["hyperParameters"], "feature_dim": "25"}},
            "training": artifacts}


@pytest.mark.parametrize("execution_input", [{}, {"useSpotInstances": True, "instanceCount": 1,
                                                  "trainingInstanceType": "ml.c4.2xlarge"}])
def test_sagemaker_requests_evaluated_on_a_real_config_validate_completely(
    definition: dict[str, Any], execution_input: dict[str, Any]
) -> None:
    state = sample_state(execution_input)
    for name, task in tasks(definition).items():
        service, operation = api_of(task["Resource"])
        if service != "sagemaker":
            continue
        request = materialize(task["Parameters"], state)
        input_shape = MODELS[service].operation_model(operation).input_shape
        validate_parameters(request, input_shape)
        assert check_literal_shape(request, input_shape, name) == []
        if operation == "CreateTrainingJob":
            assert request["StoppingCondition"].get("MaxWaitTimeInSeconds") == (
                7200 if execution_input.get("useSpotInstances") else None), name
            assert request["EnableManagedSpotTraining"] is bool(execution_input.get("useSpotInstances"))
            assert request["AlgorithmSpecification"]["TrainingImage"] == (
                "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1")
            assert request["HyperParameters"]["feature_dim"] == "25"
        if operation == "CreateTransformJob":  # Linear Learner's documented batch transform formats
            assert request["TransformInput"]["ContentType"] == "application/x-recordio-protobuf"
            assert request["TransformInput"]["SplitType"] == "RecordIO"
            assert request["TransformOutput"]["Accept"] == "application/jsonlines"
            assert request["TransformOutput"]["AssembleWith"] == "Line"
            assert request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == (
                f"s3://shardlab-bucket-abc/{state['config']['datasetPrefix']}test/")


def test_default_instance_types_are_in_botocore_enums() -> None:
    sagemaker = MODELS["sagemaker"]
    training = sagemaker.shape_for("TrainingInstanceType").enum
    hosting = sagemaker.shape_for("ProductionVariantInstanceType").enum
    notebook = sagemaker.shape_for("InstanceType").enum
    assert {"ml.c5.2xlarge", "ml.c4.2xlarge"} <= set(training)
    assert {"ml.m5.xlarge", "ml.m4.xlarge"} <= set(hosting)
    assert "ml.t3.medium" in notebook
    assert {"ml.m5.xlarge", "ml.m4.xlarge"} <= set(sagemaker.shape_for("TransformInstanceType").enum)


# --- (c) IAM ---------------------------------------------------------------------------------------------


def role_statements(template: dict[str, Any], role_lid: str,
                    resolve: Callable[[dict[str, Any]], str]) -> list[dict[str, Any]]:
    statements = []
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_lid} in resource["Properties"]["Roles"]:
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    for policy in template["Resources"][role_lid]["Properties"].get("Policies", []):
        statements += policy["PolicyDocument"]["Statement"]

    def render(value: Any) -> Any:
        if isinstance(value, list):
            return [render(v) for v in value]
        return value if isinstance(value, str) else resolve(value)

    return [{**s, "Resource": render(s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]),
             "Action": s["Action"] if isinstance(s["Action"], list) else [s["Action"]]} for s in statements]


def _condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, pairs in condition.items():
        for key, expected in pairs.items():
            if key not in context:
                return False
            options = expected if isinstance(expected, list) else [expected]
            if operator == "StringEquals" and context[key] not in options:
                return False
            if operator == "StringLike" and not any(fnmatch.fnmatchcase(context[key], o) for o in options):
                return False
            if operator not in ("StringEquals", "StringLike"):
                raise AssertionError(f"condition operator {operator} not modelled")
    return True


def allowed(statements: list[dict[str, Any]], action: str, resource: str, context: dict[str, str] | None = None
            ) -> bool:
    assert all(s["Effect"] == "Allow" for s in statements)
    for statement in statements:
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in statement["Action"]):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in statement["Resource"]):
            continue
        if _condition_holds(statement.get("Condition", {}), context or {}):
            return True
    return False


def role_of(template: dict[str, Any], resource_lid: str) -> str:
    properties = template["Resources"][resource_lid]["Properties"]
    role = properties.get("Role") or properties.get("RoleArn") or properties["ExecutionRoleArn"]
    return str(role["Fn::GetAtt"][0])


def lid_by_handler(template: dict[str, Any], handler: str) -> str:
    return next(lid for lid, f in lambda_functions(template).items() if f["handler"] == handler)


def lid_of_type(template: dict[str, Any], kind: str, contains: str = "") -> str:
    found = [lid for lid, r in template["Resources"].items() if r["Type"] == kind and contains in lid]
    assert len(found) == 1, found
    return found[0]


def sm_arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name.lower()}"


def required_task_permissions(definition: dict[str, Any], state: dict[str, Any], sagemaker_role_arn: str
                              ) -> list[tuple[str, str, dict[str, str]]]:
    """(action, resource, condition context) each Task needs, with the sample run's names filled in."""
    needs = []
    for task in tasks(definition).values():
        service, operation = api_of(task["Resource"])
        if service == "lambda":
            needs.append(("lambda:InvokeFunction", task["Parameters"]["FunctionName"], {}))
            continue
        request = materialize(task["Parameters"], state)
        pass_role = ("iam:PassRole", sagemaker_role_arn, {"iam:PassedToService": "sagemaker.amazonaws.com"})
        if operation == "CreateTrainingJob":
            arn = sm_arn("training-job", request["TrainingJobName"])
            needs += [(f"sagemaker:{a}", arn, {}) for a in ("CreateTrainingJob", "DescribeTrainingJob",
                                                            "StopTrainingJob", "AddTags", "ListTags")]
            needs.append(pass_role)
            rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule"
            needs += [(f"events:{a}", rule, {}) for a in ("PutTargets", "PutRule", "DescribeRule")]
        elif operation == "CreateModel":
            arn = sm_arn("model", request["ModelName"])
            needs += [("sagemaker:CreateModel", arn, {}), ("sagemaker:AddTags", arn, {}),
                      ("sagemaker:ListTags", arn, {}), pass_role]
        elif operation == "CreateEndpointConfig":
            arn = sm_arn("endpoint-config", request["EndpointConfigName"])
            needs += [("sagemaker:CreateEndpointConfig", arn, {}), ("sagemaker:AddTags", arn, {}),
                      ("sagemaker:ListTags", arn, {})]
        elif operation == "CreateEndpoint":
            endpoint = sm_arn("endpoint", request["EndpointName"])
            needs += [("sagemaker:CreateEndpoint", endpoint, {}), ("sagemaker:AddTags", endpoint, {}),
                      ("sagemaker:ListTags", endpoint, {}),
                      ("sagemaker:CreateEndpoint", sm_arn("endpoint-config", request["EndpointConfigName"]), {})]
        elif operation == "CreateTransformJob":
            arn = sm_arn("transform-job", request["TransformJobName"])
            needs += [(f"sagemaker:{a}", arn, {}) for a in ("CreateTransformJob", "DescribeTransformJob",
                                                            "StopTransformJob", "AddTags", "ListTags")]
            rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/StepFunctionsGetEventsForSageMakerTransformJobsRule"
            needs += [(f"events:{a}", rule, {}) for a in ("PutTargets", "PutRule", "DescribeRule")]
        elif operation == "DescribeEndpoint":
            needs.append(("sagemaker:DescribeEndpoint", sm_arn("endpoint", request["EndpointName"]), {}))
        else:
            raise AssertionError(f"no permissions modelled for {operation}")
    return needs


def test_state_machine_role_allows_every_task_and_nothing_outside_the_prefix(
    template: dict[str, Any], definition: dict[str, Any], resolve: Callable[[dict[str, Any]], str]
) -> None:
    state_machine = state_machine_logical_id(template)
    statements = role_statements(template, role_of(template, state_machine), resolve)
    sagemaker_role = resolve({"Fn::GetAtt": [lid_of_type(template, "AWS::IAM::Role", "SageMakerExecution"),
                                             "Arn"]})
    state = sample_state({})
    needs = required_task_permissions(definition, state, sagemaker_role)
    missing = [need for need in needs if not allowed(statements, *need)]
    assert missing == []
    # Denied: another stack's names, PassRole to another service, another role.
    assert not allowed(statements, "sagemaker:CreateTrainingJob", sm_arn("training-job", "other-run-replicated"))
    assert not allowed(statements, "sagemaker:DeleteEndpoint", sm_arn("endpoint", "shardlab-x-sharded"))
    assert not allowed(statements, "iam:PassRole", sagemaker_role, {"iam:PassedToService": "ec2.amazonaws.com"})
    assert not allowed(statements, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/Admin",
                       {"iam:PassedToService": "sagemaker.amazonaws.com"})


def _bucket(template: dict[str, Any]) -> str:
    # The stack bucket's name as the resolver (local mode's deployment) gives it.
    return str(local_resolver(template)({"Ref": lid_of_type(template, "AWS::S3::Bucket", BUCKET_LID_PREFIX)}))


LAMBDA_NEEDS: dict[str, list[tuple[str, str, dict[str, str]]]] = {
    # What each handler's code calls, for the sample run (bucket/keys per docs/ARCHITECTURE.md).
    "lambdas.workflow_input.handler.handler": [],
    "lambdas.preflight.handler.handler": [("servicequotas:ListServiceQuotas", "*", {}),
                                  ("servicequotas:ListAWSDefaultServiceQuotas", "*", {}),
                                  ("pricing:GetProducts", "*", {})],
    "lambdas.dataprep.handler.profile": [
        ("s3:GetObject", "arn:aws:s3:::gdelt-open-data/events/1979.csv", {}),
        ("s3:GetObject", "arn:aws:s3:::{bucket}/{dataset}manifest.json", {}),
        ("s3:ListBucket", "arn:aws:s3:::{bucket}", {"s3:prefix": "{dataset}manifest.json"}),
    ],
    "lambdas.dataprep.handler.shard": [
        ("s3:GetObject", "arn:aws:s3:::gdelt-open-data/events/1984.csv", {}),
        ("s3:PutObject", "arn:aws:s3:::{bucket}/{dataset}train/1979.data", {}),
        ("s3:AbortMultipartUpload", "arn:aws:s3:::{bucket}/{dataset}validation/1979.data", {}),
        ("s3:DeleteObject", "arn:aws:s3:::{bucket}/{dataset}test/1984.data", {}),
    ],
    "lambdas.dataprep.handler.finalize": [
        ("s3:PutObject", "arn:aws:s3:::{bucket}/{dataset}manifest.json", {}),
        ("s3:GetObject", "arn:aws:s3:::{bucket}/{dataset}train/1979.data", {}),
        ("s3:ListBucket", "arn:aws:s3:::{bucket}", {"s3:prefix": "{dataset}"}),
    ],
    "lambdas.compare.handler.handler": [
        ("pricing:GetProducts", "*", {}),
        ("s3:GetObject", "arn:aws:s3:::{bucket}/{dataset}test/1984.data", {}),
        ("s3:PutObject", "arn:aws:s3:::{bucket}/{run}report.json", {}),
        ("s3:PutObject", "arn:aws:s3:::{bucket}/{run}report.md", {}),
        ("sagemaker:InvokeEndpoint", "{endpoint_arn}", {}),
        ("sagemaker:DescribeEndpoint", "{endpoint_arn}", {}),
        ("sagemaker:DescribeTrainingJob", "{job_arn}", {}),
        ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "Shardlab/shardlab"}),
    ],
    "lambdas.compare.handler.sweep_report": [
        ("s3:GetObject", "arn:aws:s3:::{bucket}/{run}points/p01/report.json", {}),
        ("s3:PutObject", "arn:aws:s3:::{bucket}/{run}report.json", {}),
        ("s3:PutObject", "arn:aws:s3:::{bucket}/{run}report.md", {}),
        ("s3:PutObject", "arn:aws:s3:::{bucket}/{run}sweep.png", {}),
        ("s3:ListBucket", "arn:aws:s3:::{bucket}", {"s3:prefix": "{run}points/p01/report.json"}),
    ],
    "lambdas.cleanup.handler.run_cleanup": [
        ("sagemaker:DescribeTrainingJob", "{job_arn}", {}),
        ("sagemaker:StopTrainingJob", "{job_arn}", {}),
        ("sagemaker:DescribeEndpoint", "{endpoint_arn}", {}),
        ("sagemaker:DeleteEndpoint", "{endpoint_arn}", {}),
        ("sagemaker:DeleteEndpointConfig", "{config_arn}", {}),
        ("sagemaker:DeleteModel", "{model_arn}", {}),
        ("logs:DeleteLogGroup", "{log_groups}/aws/sagemaker/Endpoints/{name}", {}),
        ("logs:DescribeLogStreams", "{log_groups}/aws/sagemaker/TrainingJobs", {}),
        ("logs:DeleteLogStream", "{log_groups}/aws/sagemaker/TrainingJobs:log-stream:{name}/algo-1-1767225600", {}),
    ],
}
GUARD_NEEDS = [
    *LAMBDA_NEEDS["lambdas.cleanup.handler.run_cleanup"],
    *[(f"sagemaker:{a}", "*", {}) for a in ("ListTrainingJobs", "ListEndpoints", "ListEndpointConfigs",
                                            "ListModels")],
    *[("sagemaker:ListTags", arn, {}) for arn in ("{job_arn}", "{endpoint_arn}", "{config_arn}", "{model_arn}")],
    ("states:ListExecutions", "{state_machine_arn}", {}),
    ("states:StopExecution", "{execution_arn}", {}),
]
LAMBDA_NEEDS["lambdas.cleanup.handler.on_event"] = GUARD_NEEDS
LAMBDA_NEEDS["lambdas.cleanup.handler.is_complete"] = GUARD_NEEDS


def _fill(text: str, values: dict[str, str]) -> str:
    return text.format(**values)


def _run_values(template: dict[str, Any]) -> dict[str, str]:
    config = sample_state({})["config"]
    name = config["names"]["sharded"]
    state_machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:shardlab-pipeline"
    return {"bucket": _bucket(template), "dataset": config["datasetPrefix"], "run": config["runPrefix"],
            "endpoint_arn": sm_arn("endpoint", name), "job_arn": sm_arn("training-job", name),
            "config_arn": sm_arn("endpoint-config", name), "model_arn": sm_arn("model", name),
            "state_machine_arn": state_machine, "name": name,
            "log_groups": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:",
            "execution_arn": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:shardlab-pipeline:run-1"}


@pytest.mark.parametrize("handler", sorted(LAMBDA_NEEDS))
def test_each_lambda_role_allows_what_its_code_does_and_writes_logs_only_to_its_group(
    template: dict[str, Any], resolve: Callable[[dict[str, Any]], str], handler: str
) -> None:
    lid = lid_by_handler(template, handler)
    statements = role_statements(template, role_of(template, lid), resolve)
    values = _run_values(template)
    needs = [(a, _fill(r, values), {k: _fill(v, values) for k, v in c.items()}) for a, r, c in LAMBDA_NEEDS[handler]]
    assert [need for need in needs if not allowed(statements, *need)] == []
    log_group = resolve(template["Resources"][lid]["Properties"]["LoggingConfig"]["LogGroup"])
    stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{log_group}:log-stream:2026/01/01/abc"
    assert allowed(statements, "logs:PutLogEvents", stream)
    assert not allowed(statements, "logs:PutLogEvents",
                       f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/other:log-stream:x")
    # Nothing of another stack or another run's bucket prefix outside the stack's own layout.
    assert not allowed(statements, "sagemaker:DeleteEndpoint", sm_arn("endpoint", "prod-model"))
    assert not allowed(statements, "s3:PutObject", f"arn:aws:s3:::{values['bucket']}/elsewhere/x")
    assert not allowed(statements, "s3:GetObject", "arn:aws:s3:::someone-elses-bucket/x")


@pytest.mark.parametrize("handler", ["lambdas.cleanup.handler.run_cleanup", "lambdas.cleanup.handler.is_complete"])
def test_cleanup_roles_delete_sagemaker_logs_of_their_prefix_only(
    template: dict[str, Any], resolve: Callable[[dict[str, Any]], str], handler: str
) -> None:
    statements = role_statements(template, role_of(template, lid_by_handler(template, handler)), resolve)
    groups = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:"
    training = f"{groups}/aws/sagemaker/TrainingJobs"
    assert allowed(statements, "logs:DeleteLogGroup", f"{groups}/aws/sagemaker/Endpoints/shardlab-run-1-sharded")
    assert allowed(statements, "logs:DeleteLogStream", f"{training}:log-stream:shardlab-run-1-sharded/algo-2-1")
    # Another prefix's endpoint logs and job streams, the shared group itself, and other groups' streams.
    assert not allowed(statements, "logs:DeleteLogGroup", f"{groups}/aws/sagemaker/Endpoints/prod-model")
    assert not allowed(statements, "logs:DeleteLogStream", f"{training}:log-stream:prod-job/algo-1-1")
    assert not allowed(statements, "logs:DeleteLogGroup", training)
    assert not allowed(statements, "logs:DeleteLogGroup", f"{groups}/aws/lambda/shardlab-run-1")
    assert not allowed(statements, "logs:DeleteLogStream",
                       f"{groups}/aws/sagemaker/Endpoints/prod-model:log-stream:shardlab-x")
    assert not allowed(statements, "logs:DescribeLogStreams", f"{groups}/aws/lambda/other")


def test_sagemaker_execution_role_reads_data_writes_artifacts_and_nothing_else(
    template: dict[str, Any], resolve: Callable[[dict[str, Any]], str]
) -> None:
    statements = role_statements(template, lid_of_type(template, "AWS::IAM::Role", "SageMakerExecution"), resolve)
    values = _run_values(template)
    job = sample_state({})["config"]["names"]["replicated"]
    artifact = f"arn:aws:s3:::{values['bucket']}/{values['run']}training/{job}/output/model.tar.gz"
    for need in [
        ("s3:GetObject", f"arn:aws:s3:::{values['bucket']}/{values['dataset']}train/1979.data", {}),
        ("s3:ListBucket", f"arn:aws:s3:::{values['bucket']}", {"s3:prefix": f"{values['dataset']}train/"}),
        ("s3:PutObject", artifact, {}),
        ("s3:GetObject", artifact, {}),
        ("ecr:BatchGetImage", f"arn:aws:ecr:{REGION}:382416733822:repository/linear-learner", {}),
        ("ecr:GetAuthorizationToken", "*", {}),
        ("logs:PutLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/TrainingJobs:"
                              f"log-stream:{job}/algo-1-123", {}),
        ("logs:CreateLogStream", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{job}:"
                                 f"log-stream:AllTraffic/i-1", {}),
        ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}),
    ]:
        assert allowed(statements, *need), need
    assert not allowed(statements, "s3:PutObject", f"arn:aws:s3:::{values['bucket']}/{values['dataset']}x")
    assert not allowed(statements, "s3:GetObject", f"arn:aws:s3:::{values['bucket']}/{values['run']}report.json")
    assert not allowed(statements, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "Custom"})
    assert not allowed(statements, "ecr:BatchGetImage", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/anything")


# Actions AWS offers no resource-level permissions for (the only statements allowed to use "*").
NO_RESOURCE_LEVEL = {"ecr:getauthorizationtoken", "cloudwatch:putmetricdata", "sagemaker:listtrainingjobs",
                     "sagemaker:listendpoints", "sagemaker:listendpointconfigs", "sagemaker:listmodels",
                     "sagemaker:listtransformjobs",
                     "xray:*", "logs:createlogdelivery", "logs:deletelogdelivery", "logs:describelogGroups",
                     "logs:describeresourcepolicies", "logs:getlogdelivery", "logs:listlogdeliveries",
                     "logs:putresourcepolicy", "logs:updatelogdelivery", "xray:getsamplingrules",
                     "xray:getsamplingtargets", "xray:puttelemetryrecords", "xray:puttracesegments",
                     "servicequotas:listservicequotas", "servicequotas:listawsdefaultservicequotas",
                     "pricing:getproducts"}
NO_RESOURCE_LEVEL = {a.lower() for a in NO_RESOURCE_LEVEL}


def test_no_statement_is_broader_than_the_prefix_where_aws_allows_scoping(
    template: dict[str, Any], resolve: Callable[[dict[str, Any]], str]
) -> None:
    problems = []
    roles = [lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"
             and "Provider" not in lid]  # CDK's custom-resource framework roles are CDK's own
    for role in roles:
        for statement in role_statements(template, role, resolve):
            actions = [a.lower() for a in statement["Action"]]
            for resource in statement["Resource"]:
                if resource == "*" and not set(actions) <= NO_RESOURCE_LEVEL:
                    problems.append(f"{role}: {actions} on *")
                own_name = r":[a-z-]+/shardlab-(\*|notebook-[0-9a-f]{6})$"
                if ":sagemaker:" in resource and not re.search(own_name, resource):
                    problems.append(f"{role}: {resource} is not limited to the shardlab- prefix")
                if any(a.endswith(":*") or a == "*" for a in actions):
                    problems.append(f"{role}: wildcard action {actions}")
    assert problems == []


def test_execution_input_output_is_valid_for_the_first_state(template: dict[str, Any]) -> None:
    example = json.loads(template["Outputs"]["ExampleExecutionInput"]["Value"])
    config = build_config(example, execution_name="example", bucket="b", resource_prefix="shardlab")
    assert config["testYear"] == 1984


# --- (d) the stage map of docs/ARCHITECTURE.md ------------------------------------------------------------------

STAGE_MAP_COLUMNS = ["stage", "states", "built by", "runtime", "local stand-in", "proven by"]
PYTHON_PATH = re.compile(r"[a-z_]+(\.[A-Za-z_]+)+")


def stage_map() -> list[dict[str, list[str]]]:
    """The table's rows: column -> the `code` spans of its cell."""
    text = (REPO_ROOT / "docs" / "ARCHITECTURE.md").read_text()
    section = text.split("\n## Stage map\n", 1)[1].split("\n## ", 1)[0]
    lines = [line.strip().strip("|") for line in section.splitlines() if line.startswith("|")]
    assert [cell.strip() for cell in lines[0].split("|")] == STAGE_MAP_COLUMNS
    return [dict(zip(STAGE_MAP_COLUMNS, (re.findall(r"`([^`]+)`", cell) for cell in line.split("|")), strict=True))
            for line in lines[2:]]


def state_names(row: dict[str, list[str]]) -> list[str]:
    """The row's state names, `{branch}`, `{Branch}` and `{label}` written out for each branch."""
    names = []
    for name in row["states"]:
        if "{" in name:
            names += [name.format(branch=b, Branch=b.capitalize(), label=BRANCH_LABELS[b]) for b in BRANCHES]
        else:
            names.append(name)
    return names


def test_the_stage_map_names_every_state_of_the_definition_once(definition: dict[str, Any]) -> None:
    mapped = [name for row in stage_map() for name in state_names(row)]
    assert len(mapped) == len(set(mapped))
    assert sorted(mapped) == sorted(name for name, _ in all_states(definition))


def test_the_stage_map_names_construct_methods_that_exist() -> None:
    for row in stage_map():
        assert row["built by"], row["stage"]
        for name in row["built by"]:
            owner, attribute = name.split(".")
            scope = Pipeline if owner == "Pipeline" else importlib.import_module(f"stacks.{owner}")
            assert callable(getattr(scope, attribute, None)), name


def test_the_stage_map_names_the_handlers_each_stage_invokes_and_functions_that_exist(
    template: dict[str, Any], definition: dict[str, Any], resolve: Callable[[dict[str, Any]], str]
) -> None:
    handler_of = {resolve({"Fn::GetAtt": [lid, "Arn"]}): f["handler"] for lid, f in lambda_functions(template).items()}
    states = dict(all_states(definition))
    for row in stage_map():
        invoked = {handler_of[states[name]["Parameters"]["FunctionName"]] for name in state_names(row)
                   if states[name].get("Resource", "").endswith(":lambda:invoke")}
        assert {name for name in row["runtime"] if name in handler_of.values()} == invoked, row["stage"]
        for name in row["runtime"]:
            if PYTHON_PATH.fullmatch(name):
                module, attribute = name.rsplit(".", 1)
                assert callable(getattr(importlib.import_module(module), attribute, None)), name


def test_the_stage_map_names_local_modules_and_test_files_that_exist() -> None:
    for row in stage_map():
        stand_ins = [name for name in row["local stand-in"] if "/" in name]
        for path in stand_ins + row["proven by"]:
            assert (REPO_ROOT / path).is_file(), path
        sources = "".join((REPO_ROOT / path).read_text() for path in stand_ins)
        for name in row["local stand-in"]:
            if re.fullmatch(r"[A-Z]\w+", name):
                assert f"class {name}" in sources, name
        assert row["proven by"] and all(path.startswith("tests/test_") for path in row["proven by"]), row["stage"]


def test_the_sweep_report_reads_only_reports_and_writes_only_report_files(
    template: dict[str, Any], resolve: Callable[[dict[str, Any]], str]
) -> None:
    function = lid_by_handler(template, "lambdas.compare.handler.sweep_report")
    statements = role_statements(template, role_of(template, function), resolve)
    values = _run_values(template)
    bucket, run, dataset = values["bucket"], values["run"], values["dataset"]
    assert not allowed(statements, "s3:GetObject", f"arn:aws:s3:::{bucket}/{dataset}test/1984.data")
    assert not allowed(statements, "s3:GetObject", f"arn:aws:s3:::{bucket}/{run}points/p01/training/x/model.tar.gz")
    assert not allowed(statements, "s3:PutObject", f"arn:aws:s3:::{bucket}/{run}points/p01/transform/replicated/x")
    assert not allowed(statements, "s3:DeleteObject", f"arn:aws:s3:::{bucket}/{run}report.json")
    assert not any(action.startswith("sagemaker:") for statement in statements for action in statement["Action"])
