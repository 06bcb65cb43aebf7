"""Data preparation Lambdas: profile the base year, shard each year, finalize the dataset manifest."""

from __future__ import annotations

from aws_cdk import Duration
from constructs import Construct

from stacks.lambda_code import ProjectFunction

# The yearly GDELT files grow to over a gigabyte by 2005; a year is streamed, but the kept rows are
# shuffled in memory, and Lambda CPU scales with memory.
SHARD_MEMORY_MB = 8192
PROFILE_MEMORY_MB = 2048
LONGEST_LAMBDA_TIMEOUT = Duration.minutes(15)


class DataPreparation(Construct):
    def __init__(self, scope: Construct, id_: str, *, environment: dict[str, str]) -> None:
        super().__init__(scope, id_)
        self.profile = ProjectFunction(
            self, "Profile", handler="dataprep.handler.profile",
            description="shardlab: top event codes of the base year (or the cached dataset manifest)",
            memory_mb=PROFILE_MEMORY_MB, timeout=LONGEST_LAMBDA_TIMEOUT, environment=environment,
        )
        self.shard = ProjectFunction(
            self, "Shard", handler="dataprep.handler.shard",
            description="shardlab: one GDELT source group (a yearly file or a month's files) -> recordIO objects",
            memory_mb=SHARD_MEMORY_MB, timeout=LONGEST_LAMBDA_TIMEOUT, environment=environment,
        )
        self.finalize = ProjectFunction(
            self, "Finalize", handler="dataprep.handler.finalize",
            description="shardlab: writes the dataset's manifest.json last",
            memory_mb=256, timeout=Duration.minutes(1), environment=environment,
        )
