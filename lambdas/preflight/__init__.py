"""Pre-flight: checks the account's SageMaker instance quotas before a run spends anything."""
