"""Apply defaults to a run's execution input, validate it and derive the names the run uses."""
