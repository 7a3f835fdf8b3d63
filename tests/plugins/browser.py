"""pytest fixtures: browser (see tests/conftest.py)."""
