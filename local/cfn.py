"""Resolve the CloudFormation intrinsics of the synthesized template the way a local deployment would.

Local mode "deploys" the stack into moto: every resource it needs gets a name and an ARN in the local
account, and the state machine definition, the Lambda environment and the image map are resolved against
them. The ARNs follow AWS's formats so the IAM-scoped shapes of the real stack stay recognisable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from local.fake_aws import ACCOUNT_ID, PARTITION, REGION

# Properties that give a resource an explicit physical name (when they are plain strings).
_NAME_PROPERTIES = ("StateMachineName", "FunctionName", "RoleName", "LogGroupName")


class UnresolvableIntrinsicError(ValueError):
    """The template uses an intrinsic local mode cannot resolve."""


@dataclass
class LocalDeployment:
    """Physical names of the stack's resources in the local account."""

    template: dict[str, Any]
    bucket_name: str = "shardlab-local-bucket"
    account_id: str = ACCOUNT_ID
    region: str = REGION
    physical_names: dict[str, str] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, Any]:
        return self.template.get("Resources", {})

    def physical_name(self, logical_id: str) -> str:
        if logical_id in self.physical_names:
            return self.physical_names[logical_id]
        resource = self.resources.get(logical_id)
        if resource is None:
            raise UnresolvableIntrinsicError(f"Ref to {logical_id!r}, which is not a resource of the template")
        properties = resource.get("Properties", {})
        explicit = next((properties[key] for key in _NAME_PROPERTIES if isinstance(properties.get(key), str)), None)
        if resource["Type"] == "AWS::S3::Bucket":
            name = self.bucket_name
        elif explicit:
            name = explicit
        else:
            # CloudFormation names resources <stack>-<logical id>-<random>; the logical id is unique already.
            name = logical_id[:64]
        self.physical_names[logical_id] = name
        return name

    def arn(self, logical_id: str) -> str:
        resource_type = self.resources.get(logical_id, {}).get("Type")
        name = self.physical_name(logical_id)
        account, region, partition = self.account_id, self.region, PARTITION
        arns = {
            "AWS::Lambda::Function": f"arn:{partition}:lambda:{region}:{account}:function:{name}",
            "AWS::IAM::Role": f"arn:{partition}:iam::{account}:role/{name}",
            "AWS::S3::Bucket": f"arn:{partition}:s3:::{name}",
            "AWS::StepFunctions::StateMachine": f"arn:{partition}:states:{region}:{account}:stateMachine:{name}",
            "AWS::Logs::LogGroup": f"arn:{partition}:logs:{region}:{account}:log-group:{name}:*",
            "AWS::KMS::Key": f"arn:{partition}:kms:{region}:{account}:key/{name}",
        }
        if resource_type not in arns:
            raise UnresolvableIntrinsicError(f"no local ARN for {logical_id} ({resource_type})")
        return arns[resource_type]

    def ref(self, target: str) -> str:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "Shardlab",
        }
        if target in pseudo:
            return pseudo[target]
        resource_type = self.resources.get(target, {}).get("Type")
        if resource_type == "AWS::StepFunctions::StateMachine":
            return self.arn(target)  # Ref of a state machine is its ARN
        return self.physical_name(target)

    def resolve(self, value: Any) -> Any:  # noqa: C901, PLR0911 -- one branch per CloudFormation intrinsic
        """Resolve intrinsics in ``value`` (recursively); plain values are returned as they are."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Fn::", "Ref")):
            return {key: self.resolve(item) for key, item in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            return self.ref(argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            if attribute == "Arn":
                return self.arn(logical_id)
            if attribute == "Name":
                return self.physical_name(logical_id)
            raise UnresolvableIntrinsicError(f"Fn::GetAtt {logical_id}.{attribute} is not resolved locally")
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.resolve(part)) for part in parts)
        if function == "Fn::FindInMap":
            map_name, top_key, second_key = (self.resolve(part) for part in argument)
            try:
                return self.template["Mappings"][map_name][top_key][second_key]
            except KeyError as error:
                raise UnresolvableIntrinsicError(f"Fn::FindInMap {argument}: no {error}") from error
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(index)]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.resolve(text)).split(separator)
        raise UnresolvableIntrinsicError(f"{function} is not resolved locally")
