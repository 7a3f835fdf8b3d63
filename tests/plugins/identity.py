"""pytest fixtures: identity (see tests/conftest.py)."""
