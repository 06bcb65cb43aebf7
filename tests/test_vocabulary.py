"""The shared vocabulary (lambdas/lambda_common/vocabulary.py): the one S3 URI parser and the branch words."""

from __future__ import annotations

import pytest

from lambda_common import vocabulary


def test_parse_s3_uri_follows_sagemakers_s3uri_rule() -> None:
    assert vocabulary.parse_s3_uri("s3://bucket/a/b.data") == ("bucket", "a/b.data")
    assert vocabulary.parse_s3_uri("s3://bucket/prefix/") == ("bucket", "prefix/")
    assert vocabulary.parse_s3_uri("s3://bucket/") == ("bucket", "")
    assert vocabulary.parse_s3_uri("s3://bucket") == ("bucket", "")
    for bad in ("bucket/key", "s3:///key", "", "https://bucket/key", None, 3):
        with pytest.raises(ValueError, match="is not an s3://bucket/key URI"):
            vocabulary.parse_s3_uri(bad)


def test_every_branch_has_a_distribution_type_and_a_label() -> None:
    assert set(vocabulary.DISTRIBUTION_TYPES) == set(vocabulary.BRANCHES) == set(vocabulary.BRANCH_LABELS)
    assert sorted(vocabulary.DISTRIBUTION_TYPES.values()) == ["FullyReplicated", "ShardedByS3Key"]
