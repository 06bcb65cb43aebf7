"""Shared fixtures. The stack is synthesized once per test session (``conftest_stack``)."""

pytest_plugins = ["conftest_stack"]
