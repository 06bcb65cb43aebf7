"""The shardlab CDK stack and its constructs."""
