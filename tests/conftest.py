"""Shared pytest set-up. Fixtures live in tests/plugins/, one module per area, loaded here.

One universal assertion runs after every test (docs/reliability.md section 9): no bearer token, client
secret or planted body text may reach the logs, whichever code path the test exercised.
"""

import logging
import re

import pytest

pytest_plugins = [
    "tests.plugins.cosmos",
    "tests.plugins.devhost",
    "tests.plugins.identity",
    "tests.plugins.graph",
    "tests.plugins.demo",
    "tests.plugins.browser",
    "tests.plugins.firm",
    "tests.plugins.azurite",
]

# A JWT (header.payload...) or anything marked as a secret/body canary by a test.
_FORBIDDEN_IN_LOGS = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}|CANARY-BODY-[A-Za-z0-9]+|SECRET-[A-Za-z0-9]{6,}")


@pytest.fixture(autouse=True)
def no_secrets_in_logs(caplog):
    caplog.set_level(logging.INFO)
    yield
    leaked = [r.getMessage() for r in caplog.records if _FORBIDDEN_IN_LOGS.search(r.getMessage())]
    assert not leaked, f"secret or body text reached the logs: {leaked[0][:200]}"
