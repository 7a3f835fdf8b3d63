"""`rapport tenant set KEY=VALUE ... | show` (rapport.firm.settings): generic over TenantSettings,
validated by the model, nothing written on bad input; on SQLite and the local Cosmos server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from rapport.firm.hours import parse_working_hours
from rapport.firm.settings import keys
from rapport.records import AuditEvent, Person, Subscription, SyncState, Tenant, TenantSettings
from tests.plugins.firm import OID, TID, cli, snapshot

ORIGINATOR = "5a0e1c38-9f4e-4a2f-8d1b-4c2a7e9b3f10"


async def test_set_every_kind_of_value_and_show_them(firm_env, capsys):
    settings, store = firm_env
    assert await cli(settings, "tenant", "set", "outlookBriefs=on", "briefLeadMinutes=30", "followUpDelayMinutes=90",
                     f"amOriginator={ORIGINATOR}", "wallsMaxAgeHours=24",
                     "workingHours=mon-FRI 9:00-17:30 Europe/London", "--tenant", TID) == 0
    s = (await store.get_tenant(TID)).settings
    assert (s.outlookBriefs, s.briefLeadMinutes, s.followUpDelayMinutes, s.amOriginator, s.wallsMaxAgeHours,
            s.workingHours) == (True, 30, 90, ORIGINATOR, 24, "Mon-Fri 09:00-17:30 Europe/London")
    [event] = [e for e in await store.find_all(AuditEvent, TID) if e.action == "settings.changed"]
    assert event.details["briefLeadMinutes"] == 30 and event.actorOid == "cli"
    capsys.readouterr()
    # clearing an optional value; setting the same again changes nothing
    assert await cli(settings, "tenant", "set", "wallsMaxAgeHours=none", "--tenant", TID) == 0
    assert (await store.get_tenant(TID)).settings.wallsMaxAgeHours is None
    before = await snapshot(store)
    assert await cli(settings, "tenant", "set", "briefLeadMinutes=30", "--tenant", TID) == 0
    assert "unchanged" in capsys.readouterr().out and await snapshot(store) == before


async def test_show_prints_settings_and_last_sync_times(firm_env, capsys):
    settings, store = firm_env
    at = datetime(2026, 11, 30, 8, 15, tzinfo=UTC)
    tenant = await store.get_tenant(TID)
    tenant.wallsSyncedAt = at
    await store.put(tenant)
    await store.put(Person(id=OID, tenantId=TID, oid=OID, upn="ann@firm.example", name="Ann"))
    await store.put(SyncState(id=SyncState.id_for(OID, "inbox"), tenantId=TID, userOid=OID, folder="inbox",
                              lastSyncAt=at + timedelta(minutes=5)))
    await store.put(SyncState(id=SyncState.id_for(OID, "calendar"), tenantId=TID, userOid=OID, folder="calendar",
                              lastSyncAt=at, lastError="throttled"))
    await store.put(Subscription(id="sub-1", tenantId=TID, userOid=OID, kind="messages", resource="/users/x/messages",
                                 expiresAt=at + timedelta(days=3), clientStateHash="h"))
    assert await cli(settings, "tenant", "show", "--tenant", TID) == 0
    out = capsys.readouterr().out
    assert "outlookBriefs = false" in out and "briefLeadMinutes = 60" in out
    assert "walls synced: 2026-11-30T08:15:00" in out
    assert "ann@firm.example: calendar 2026-11-30T08:15:00.000000Z (error: throttled); inbox 2026-11-30T08:20" in out
    assert "ann@firm.example messages: expires 2026-12-03T08:15" in out
    assert await cli(settings, "tenant", "show", "--tenant", TID, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sync"]["mailboxes"][0]["folders"]["inbox"]["lastSyncAt"].startswith("2026-11-30T08:20")
    assert set(data["settings"]) == set(TenantSettings.model_fields)


@pytest.mark.parametrize("pairs, words", [
    (["nonsense=1"], "unknown setting 'nonsense'"),
    (["briefLeadMinutes=soon"], "briefLeadMinutes: Input should be a valid integer"),
    (["briefLeadMinutes=0"], "briefLeadMinutes: Input should be greater than or equal to 5"),
    (["followUpDelayMinutes=-5"], "followUpDelayMinutes"),
    (["outlookBriefs=maybe"], "outlookBriefs: Input should be a valid boolean"),
    (["amOriginator=<a href=x>"], "amOriginator: String should match pattern"),
    (["workingHours=Fri-Mon 09:00-18:00 UTC"], "runs backwards"),
    (["workingHours=Mon-Fri 18:00-09:00 UTC"], "start before they end"),
    (["workingHours=Mon-Fri 09:00-18:00 Mars/Olympus"], "unknown time zone"),
    (["briefLeadMinutes=30", "outlookBriefs=maybe"], "outlookBriefs"),  # one bad value: nothing at all is set
    (["briefLeadMinutes"], "is not KEY=VALUE"),
    (["captureExcerpts=none"], "captureExcerpts: Input should be a valid boolean"),
])
async def test_bad_key_or_value_exits_2_naming_the_keys_and_writes_nothing(firm_env, capsys, pairs, words):
    settings, store = firm_env
    before = await snapshot(store)
    assert await cli(settings, "tenant", "set", *pairs, "--tenant", TID) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert "outlookBriefs" in err and "workingHours" in err  # the allowed keys
    assert await snapshot(store) == before


async def test_unknown_tenant_exits_2(firm_env, capsys):
    settings, _ = firm_env
    assert await cli(settings, "tenant", "set", "briefLeadMinutes=30", "--tenant", OID) == 2
    assert "not onboarded" in capsys.readouterr().err


async def test_a_record_stored_before_the_rename_reads_and_keeps_its_switch(firm_env):
    """Migration-safe: a stored Tenant with settings.actionableMessages reads as outlookBriefs, and
    the next write stores the new name only."""
    settings, store = firm_env
    doc = Tenant(id=TID, tenantId=TID, name="Firm", domains=["firm.example"]).to_doc()
    doc["settings"] = {"captureExcerpts": False, "actionableMessages": True, "briefLeadMinutes": 45}
    await store.backend.put_doc(TID, "tenants", doc)
    tenant = await store.get_tenant(TID)
    assert tenant.settings.outlookBriefs is True and tenant.settings.briefLeadMinutes == 45
    assert await cli(settings, "tenant", "set", "briefLeadMinutes=50", "--tenant", TID) == 0
    stored = await store.backend.get_doc(TID, "tenants", TID)
    assert stored["settings"]["outlookBriefs"] is True and "actionableMessages" not in stored["settings"]
    # the old name is still a key `set` accepts
    assert await cli(settings, "tenant", "set", "actionableMessages=false", "--tenant", TID) == 0
    assert (await store.get_tenant(TID)).settings.outlookBriefs is False


def test_set_is_generic_over_the_model():
    """Every field of TenantSettings is a key, with no list kept anywhere else."""
    assert set(TenantSettings.model_fields) <= set(keys())
    assert keys()["actionableMessages"] == "outlookBriefs"


def test_working_hours_forms():
    h = parse_working_hours("Mon,Wed,Fri 08:30-24:00 GMT Standard Time")
    assert str(h) == "Mon,Wed,Fri 08:30-23:59 Europe/London"
    assert str(parse_working_hours("monday-thursday 9:00-17:00 Asia/Tokyo")) == "Mon-Thu 09:00-17:00 Asia/Tokyo"
    for bad in ("", "Mon-Fri", "Mon-Fri 9-5 UTC", "Mo-Fr 09:00-17:00 UTC", "Mon-Fri 25:00-26:00 UTC"):
        with pytest.raises(ValueError):
            parse_working_hours(bad)
