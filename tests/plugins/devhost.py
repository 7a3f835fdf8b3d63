"""pytest fixtures: devhost (see tests/conftest.py)."""
