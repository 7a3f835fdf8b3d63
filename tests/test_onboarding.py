"""`rapport tenant add` (rapport.onboarding): validation, records written, idempotency."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.cli import main
from local.commands.tenant import add_tenant_command
from rapport.onboarding import (
    OnboardingError,
    parse_domains,
    parse_tenant_id,
    parse_users,
)
from rapport.records import Person
from rapport.settings import load_settings
from rapport.store.base import Store
from rapport.store.sqlite import SqliteBackend

TID = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def settings_for(path: Path):
    return load_settings({"RAPPORT_SQLITE_PATH": str(path)})


async def records(path: Path) -> tuple[dict, list[Person]]:
    store = await Store(SqliteBackend(str(path))).open()
    try:
        tenant = await store.get_tenant(TID)
        people = await store.people(TID)
        return (tenant.model_dump(exclude={"etag", "createdAt"}) if tenant else {}), people
    finally:
        await store.close()


async def test_add_tenant_records_firm_domains_and_partners(tmp_path: Path, capsys) -> None:
    db = tmp_path / "r.db"
    rc = await add_tenant_command(settings_for(db), TID.upper(), "Ashgrove & Pell", ["ashgrove.example,@ap-ip.example"],
                                  "Jane.Doe@ashgrove.example, bob@uk.ap-ip.example")
    assert rc == 0
    out = capsys.readouterr().out
    assert "added" in out and "jane.doe@ashgrove.example" in out and "first sync" in out
    tenant, people = await records(db)
    assert tenant["id"] == TID and tenant["allowed"] is True and tenant["name"] == "Ashgrove & Pell"
    assert tenant["domains"] == ["ashgrove.example", "ap-ip.example"]
    assert tenant["partners"] == ["jane.doe@ashgrove.example", "bob@uk.ap-ip.example"]
    assert people == []  # a Person exists once Graph has told its object id (the first sync)


async def test_add_tenant_twice_changes_nothing(tmp_path: Path, capsys) -> None:
    db = tmp_path / "r.db"
    args = (settings_for(db), TID, "Firm", ["firm.example"], "a@firm.example")
    assert await add_tenant_command(*args) == 0
    first = await records(db)
    assert await add_tenant_command(*args) == 0
    assert "unchanged" in capsys.readouterr().out
    second = await records(db)
    assert first[0] == second[0]
    assert [p.model_dump(exclude={"etag"}) for p in first[1]] == [p.model_dump(exclude={"etag"}) for p in second[1]]


async def test_add_tenant_again_extends_domains_and_partners(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    assert await add_tenant_command(settings_for(db), TID, "Firm", ["firm.example"], "a@firm.example") == 0
    assert await add_tenant_command(settings_for(db), TID, "Firm LLP", ["other.example"], "b@other.example") == 0
    tenant, people = await records(db)
    assert tenant["domains"] == ["firm.example", "other.example"] and tenant["name"] == "Firm LLP"
    assert tenant["partners"] == ["a@firm.example", "b@other.example"] and people == []


async def test_a_partner_already_recorded_is_kept_and_captured_again(tmp_path: Path, capsys) -> None:
    db = tmp_path / "r.db"
    real = "0b6f1e3a-7c2d-4e59-8a14-3f9d2c6b7e01"
    store = await Store(SqliteBackend(str(db))).open()
    try:
        await store.put(Person(id=real, tenantId=TID, oid=real, upn="a@firm.example", name="Ann Able", captured=False))
    finally:
        await store.close()
    assert await add_tenant_command(settings_for(db), TID, "Firm", ["firm.example"], "A@Firm.example") == 0
    assert "captured again" in capsys.readouterr().out
    _, people = await records(db)
    assert [(p.oid, p.name, p.captured) for p in people] == [(real, "Ann Able", True)]
    assert await add_tenant_command(settings_for(db), TID, "Firm", ["firm.example"], "a@firm.example") == 0
    assert "already captured" in capsys.readouterr().out


@pytest.mark.parametrize(("tenant", "domains", "users", "message"), [
    ("not-a-guid", ["firm.example"], "", "not a GUID"),
    ("72f988bf-86f1-41af-91ab-2d7cd011db4", ["firm.example"], "", "not a GUID"),
    ("{72f988bf-86f1-41af-91ab-2d7cd011db47}", ["firm.example"], "", "not a GUID"),
    (TID, ["firm"], "", "not a mail domain"),
    (TID, ["fi rm.example"], "", "not a mail domain"),
    (TID, ["-firm.example"], "", "not a mail domain"),
    (TID, ["firm.123"], "", "not a mail domain"),
    (TID, ["http://firm.example"], "", "not a mail domain"),
    (TID, [","], "", "at least one --domain"),
    (TID, ["firm.example"], "jane", "not a user principal name"),
    (TID, ["firm.example"], "jane@gmail.com", "not in the firm's domains"),
    (TID, ["firm.example"], "jane@notfirm.example", "not in the firm's domains"),
])
async def test_bad_input_exits_2_with_a_clear_message_and_writes_nothing(
    tmp_path: Path, capsys, tenant: str, domains: list[str], users: str, message: str
) -> None:
    db = tmp_path / "r.db"
    assert await add_tenant_command(settings_for(db), tenant, "Firm", domains, users) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.startswith("rapport tenant add: ")
    assert not db.exists()


async def test_empty_name_is_refused(tmp_path: Path, capsys) -> None:
    assert await add_tenant_command(settings_for(tmp_path / "r.db"), TID, "  ", ["firm.example"], "") == 2
    assert "--name" in capsys.readouterr().err


async def test_store_down_exits_1(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    rc = await add_tenant_command(settings_for(blocker / "sub" / "r.db"), TID, "Firm", ["firm.example"], "")
    assert rc == 1
    assert "unavailable" in capsys.readouterr().err


def test_cli_end_to_end(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RAPPORT_SQLITE_PATH", str(tmp_path / "cli.db"))
    assert main(["tenant", "add", TID, "--name", "Firm", "--domain", "firm.example", "--domain", "firm-ip.example",
                 "--users", "a@firm.example,b@firm-ip.example"]) == 0
    out = capsys.readouterr().out
    assert "firm.example, firm-ip.example" in out and "b@firm-ip.example" in out
    assert main(["tenant", "add", "nope", "--name", "Firm", "--domain", "firm.example"]) == 2


def test_parsers() -> None:
    assert parse_tenant_id(" " + TID.upper() + " ") == TID
    assert parse_domains(["Firm.Example.", "firm.example", "xn--bcher-kva.example"]) == ["firm.example",
                                                                                         "xn--bcher-kva.example"]
    assert parse_users(" A@Firm.Example ,,a@firm.example", ["firm.example"]) == ["a@firm.example"]
    with pytest.raises(OnboardingError):
        parse_users("a@firm.example.evil", ["firm.example"])
