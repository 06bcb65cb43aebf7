"""Compare step: score the test year on both endpoints, write report.json/report.md, put CloudWatch metrics."""
