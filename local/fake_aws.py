"""The one fake AWS identity local mode and the tests live in: moto's default account, in us-east-1.

moto's S3, IAM and STS answer for this account, so the local SageMaker, the local deployment's ARNs and the
tests' expected ARNs all use it; ``arn`` builds an ARN in AWS's format for it.
"""

from __future__ import annotations

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
PARTITION = "aws"


def arn(service: str, resource: str, *, region: str = REGION, account_id: str = ACCOUNT_ID) -> str:
    """``arn:aws:<service>:<region>:<account>:<resource>``; pass ``region=""`` for global services (IAM)."""
    return f"arn:{PARTITION}:{service}:{region}:{account_id}:{resource}"


def role_arn(name: str, *, account_id: str = ACCOUNT_ID) -> str:
    return arn("iam", f"role/{name}", region="", account_id=account_id)
