"""shardlab's offline runtime (local mode).

Local mode runs the project's Lambda code in-process, so the Lambda asset root (``lambdas/``) is on the import
path here just as it is in the Lambda runtime.
"""

from stacks.paths import ensure_lambda_path

ensure_lambda_path()
