"""Synthesize the CDK app in-process and read what local mode needs out of the template.

`synth_template()` returns the same CloudFormation template `cdk synth` writes (no CLI, no credentials,
no network, no Docker). The one reader of that template, for local mode and the tests alike: the pipeline's
state machine and the project's Lambdas are the resources the stack marked at synth (`stacks.markers`).
`state_machine_definition()` turns the state machine's `DefinitionString` (an `Fn::Join` with
`Ref`/`Fn::GetAtt`/`Fn::FindInMap` parts) into the ASL document, resolved as a local deployment
(`local.cfn`) names things, so local mode and the tests run the deployed definition unchanged.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.cfn import LocalDeployment
from stacks.markers import LAMBDA_PREFIX, PART, STATE_MACHINE
from stacks.paths import REPO_ROOT

STATE_MACHINE_TYPE = "AWS::StepFunctions::StateMachine"
LAMBDA_TYPE = "AWS::Lambda::Function"


@dataclass(frozen=True)
class Assembly:
    template: dict[str, Any]
    directory: Path
    template_path: Path
    validation_report: dict[str, Any] | None


def project_context(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """cdk.json's context with `overrides` on top (what `cdk synth -c key=value` would use)."""
    context = dict(json.loads((REPO_ROOT / "cdk.json").read_text())["context"])
    context.update(overrides or {})
    return context


def synth_assembly(context: dict[str, Any] | None = None, *, outdir: Path | None = None,
                   nag: bool = False) -> Assembly:
    """Synthesize into `outdir` (a new temporary directory by default); `nag` runs cdk-nag AwsSolutions."""
    # Imported here: jsii should start only when synthesizing.
    import aws_cdk as cdk  # noqa: PLC0415

    from app import add_checks, build_app  # noqa: PLC0415

    directory = Path(outdir or tempfile.mkdtemp(prefix="shardlab-synth-"))
    app = cdk.App(context=project_context(context), outdir=str(directory))
    stack = build_app(app)
    if nag:
        add_checks(app)
    assembly = app.synth()
    template_path = Path(assembly.get_stack_artifact(stack.artifact_id).template_full_path)
    report_path = directory / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return Assembly(json.loads(template_path.read_text()), directory, template_path, report)


def synth_template(context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stack's CloudFormation template, synthesized in this process."""
    return synth_assembly(context).template


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template.get("Resources", {}).items() if r.get("Type") == resource_type}


def part_of(resource: dict[str, Any]) -> str:
    """The marker the stack set on ``resource`` (``stacks.markers``), or ``""``."""
    return str(resource.get("Metadata", {}).get(PART, ""))


def state_machine_logical_id(template: dict[str, Any]) -> str:
    """The pipeline's state machine: the one the stack marked (CDK's Provider framework may add its own)."""
    candidates = [lid for lid, r in resources_of_type(template, STATE_MACHINE_TYPE).items()
                  if part_of(r) == STATE_MACHINE]
    if len(candidates) != 1:
        raise ValueError(f"expected one state machine marked {PART}={STATE_MACHINE!r}, found {candidates}")
    return candidates[0]


def state_machine_definition(deployment: LocalDeployment, logical_id: str | None = None) -> dict[str, Any]:
    """The ASL document of the pipeline (or `logical_id`), its intrinsics resolved to the deployment's names."""
    logical_id = logical_id or state_machine_logical_id(deployment.template)
    definition = deployment.template["Resources"][logical_id]["Properties"]["DefinitionString"]
    document: dict[str, Any] = json.loads(str(deployment.resolve(definition)))
    return document


def lambda_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id -> {"handler", "environment", "timeout", "memory"} of the Lambdas whose code is ``lambdas/``.

    They are the ones the stack marked ``lambda:<handler>``; CDK's own (Node.js) functions carry no marker.
    ``environment`` is as in the template (intrinsics unresolved)."""
    functions = {}
    for logical_id, resource in resources_of_type(template, LAMBDA_TYPE).items():
        if not part_of(resource).startswith(LAMBDA_PREFIX):
            continue
        properties = resource["Properties"]
        functions[logical_id] = {
            "handler": properties["Handler"],
            "environment": properties.get("Environment", {}).get("Variables", {}),
            "timeout": properties.get("Timeout", 3),
            "memory": properties.get("MemorySize", 128),
        }
    return functions
