"""Data preparation Lambdas: profile the base year, shard each year, finalize the dataset manifest."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from constructs import Construct

from stacks.lambda_code import ProjectFunction
from stacks.sources import grant_source_read
from stacks.storage import DataBucket

# A new account may give a function at most 3,008 MB. The shard function streams a year: its peak RSS is
# 82 MiB on a generated 117 MB year and 83 MiB on a 234 MB one, so about 82 MiB for 2005 (~126 MB), the
# largest yearly file (bench/bench_shard_memory.py). Memory is set for CPU instead: Lambda gives one full
# vCPU at 1,769 MB, and the single-threaded parse cannot use more. Profile scans the base year the same way.
SHARD_MEMORY_MB = 1769
PROFILE_MEMORY_MB = 1769
LONGEST_LAMBDA_TIMEOUT = Duration.minutes(15)


class DataPreparation(Construct):
    """Profile and shard read the sources; profile reads datasets, shard and finalize write them."""

    def __init__(self, scope: Construct, id_: str, *, environment: dict[str, str], storage: DataBucket,
                 source_locations: Sequence[str]) -> None:
        super().__init__(scope, id_)
        self.profile = ProjectFunction(
            self, "Profile", handler="lambdas.dataprep.handler.profile",
            description="shardlab: top event codes of the base year (or the cached dataset manifest)",
            memory_mb=PROFILE_MEMORY_MB, timeout=LONGEST_LAMBDA_TIMEOUT, environment=environment,
        )
        self.shard = ProjectFunction(
            self, "Shard", handler="lambdas.dataprep.handler.shard",
            description="shardlab: one GDELT source group (a yearly file or a month's files) -> recordIO objects",
            memory_mb=SHARD_MEMORY_MB, timeout=LONGEST_LAMBDA_TIMEOUT, environment=environment,
        )
        self.finalize = ProjectFunction(
            self, "Finalize", handler="lambdas.dataprep.handler.finalize",
            description="shardlab: writes the dataset's manifest.json last",
            memory_mb=256, timeout=Duration.minutes(1), environment=environment,
        )
        for function in (self.profile, self.shard):
            grant_source_read(function.role, source_locations)
        storage.grant_dataset_read(self.profile.role)
        storage.grant_dataset_list(self.profile.role)
        storage.grant_dataset_write(self.shard.role)
        storage.grant_dataset_list(self.shard.role)
        storage.grant_dataset_write(self.finalize.role)
        storage.grant_dataset_list(self.finalize.role)
