"""TestState suites: every local run's states, recorded as Step Functions ``TestState`` requests (``recorder``),
held to botocore's models offline (``local.aws_models``), replayed on local mode's interpreter (``replay``) and
sent to AWS by ``python -m local verify-aws`` (``verify``). The format is in docs/TESTSTATE.md."""
