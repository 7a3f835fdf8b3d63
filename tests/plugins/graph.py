"""pytest fixtures: graph (see tests/conftest.py)."""
