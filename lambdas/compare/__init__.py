"""Compare step: score the test year on both endpoints, write report.json/report.md, put CloudWatch metrics.

``lambdas.compare.handler.handler`` (event: docs/ARCHITECTURE.md "Compare") builds the boto3 clients and calls
``lambdas.compare.comparison.run_comparison``. Choices:

- Naive baseline = the training label mean, computed by streaming the label bytes of every object under
  ``trainData`` (exact ``math.fsum``), on a background thread while the endpoints score the first batches.
  An optional event key ``trainLabelMean`` (a number) skips that read; the report names which source it used.
- The test object is streamed: memory holds the in-flight request bodies and, per row, 8-byte floats: the
  label (twice), and per endpoint (and the baseline) a prediction and an absolute error. Requests are
  ``text/csv`` of at most 1.5 MiB by default (cap 5 MiB), features as ``%.9g`` (parses back to the same
  float32), ``Accept: application/json``; 4 requests in flight per endpoint.
- Retries (ours, so errors name the batch): throttling, 5xx, ModelNotReady and connection errors, full-jitter
  exponential backoff, 6 attempts. ``ModelError`` (the container refused the payload) is not retried.
- Speed (the Lambda's own CPU is the limit; ``bench/bench_compare.py``): CSV is built column by column from
  strided views of the records (``lambdas.compare.testdata``); each batch's absolute errors are sorted as it comes
  back, and the metrics and the chart's histogram read order statistics from those sorted runs by bisection
  without merging them (``lambdas.compare.metrics``); the per-host table comes from the one listing of the train
  prefix, on the background thread during scoring. Numbers and picture are unchanged by this.
- A sweep's report (``lambdas.compare.handler.sweep_report`` -> ``lambdas.compare.sweep.run_sweep_report``) reads
  every point's report.json and writes the sweep's report.json, report.md and sweep.png (``compare/sweep_chart.py``).
- Outputs are published only after every number is computed: CloudWatch metrics, then ``report.md``, then
  ``report.json`` (its presence means the report is complete).
"""
