"""pytest fixtures: a firm to administer (see tests/conftest.py).

- `firm_env`: (settings, open store) with two onboarded firms, TID (domain firm.example, no partners
  listed) and OTHER (other.example); parametrized over the embedded SQLite file and the local Cosmos
  server (a fresh database, dropped afterwards), so every test using it runs on both.
- `cli(settings, *argv)`: the real `rapport` parser and command, awaited; returns the exit status.
- `snapshot(store, tid)`: every record a people/settings command could touch, as text, to prove a
  refused command wrote nothing.
"""

from __future__ import annotations

import inspect
import json

import pytest

from rapport.records import AuditEvent, Draft, Person, Subscription, Tenant
from rapport.settings import load_settings
from rapport.store import make_store

TID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER = "0a0a0a0a-86f1-41af-91ab-2d7cd011db47"
OID = "0b6f1e3a-7c2d-4e59-8a14-3f9d2c6b7e01"


@pytest.fixture(params=["sqlite", pytest.param("cosmos", marks=pytest.mark.cosmos)])
async def firm_env(request, tmp_path):
    """(settings, open store) of a firm (TID, domain firm.example, no partners listed) and a second firm."""
    if request.param == "sqlite":
        settings = load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "r.db")})
    else:
        settings = load_settings(request.getfixturevalue("cosmos_env")())
    store = await make_store(settings).open()
    await store.put_tenant(Tenant(id=TID, tenantId=TID, name="Firm", domains=["firm.example"]))
    await store.put_tenant(Tenant(id=OTHER, tenantId=OTHER, name="Other", domains=["other.example"]))
    try:
        yield settings, store
    finally:
        if request.param == "cosmos":
            from tests.doubles.cosmos_server import drop_database

            await store.close()
            await drop_database(request.getfixturevalue("cosmos_endpoint"), settings.cosmos_database)
        else:
            await store.close()


async def cli(settings, *argv: str) -> int:
    from local.cli import _parser

    args = _parser().parse_args(list(argv))
    rc = args.run(args, settings)
    return await rc if inspect.isawaitable(rc) else rc


async def snapshot(store, tid: str = TID) -> str:
    """Every record of the firm a people command could touch, as text (to prove nothing was written)."""
    tenant = await store.get_tenant(tid)
    docs = [tenant.model_dump(mode="json", exclude={"etag"})]
    for cls in (Person, AuditEvent, Draft, Subscription):
        docs += sorted((r.model_dump(mode="json", exclude={"etag"}) for r in await store.find_all(cls, tid)),
                       key=lambda d: d["id"])
    return json.dumps(docs, sort_keys=True, default=str)


