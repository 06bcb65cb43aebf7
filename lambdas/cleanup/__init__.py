"""Delete what a run (or, on stack deletion, every run) left in SageMaker."""
