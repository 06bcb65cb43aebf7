"""shardlab's offline runtime (local mode). It runs the Lambda code in-process, imported as ``lambdas.*``."""
