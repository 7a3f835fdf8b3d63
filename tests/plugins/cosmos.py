"""pytest fixtures: cosmos (see tests/conftest.py)."""
