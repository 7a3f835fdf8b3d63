"""A store written by an earlier Rapport (schema v1: doc_keys without rids) opens, upgrades in
place, and reads and writes exactly as a new one."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from rapport.records import Account, Contact, Interaction, contact_id
from rapport.store.base import Store
from rapport.store.sqlite import SqliteBackend

T = "aaaaaaaa-0000-0000-0000-00000000000a"
T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)

# Frozen copy of the v1 layout, as the first release wrote it.
V1 = """
CREATE TABLE docs (
  tenant_id TEXT NOT NULL, family TEXT NOT NULL, id TEXT NOT NULL,
  doc_type TEXT NOT NULL, at TEXT NOT NULL, etag TEXT NOT NULL, doc TEXT NOT NULL,
  PRIMARY KEY (tenant_id, family, id)
);
CREATE INDEX docs_by_time_v2 ON docs (tenant_id, family, doc_type, at, id) WHERE family <> 'interactions';
CREATE TABLE doc_keys (
  tenant_id TEXT NOT NULL, family TEXT NOT NULL, key TEXT NOT NULL, at TEXT NOT NULL, id TEXT NOT NULL,
  doc_type TEXT NOT NULL,
  PRIMARY KEY (tenant_id, family, key, at, id)
) WITHOUT ROWID;
CREATE TABLE tenant_dir (id TEXT PRIMARY KEY) WITHOUT ROWID;
"""


def write_v1(path: str, records: list) -> None:
    db = sqlite3.connect(path)
    db.executescript(V1)
    for n, r in enumerate(records):
        doc = r.to_doc()
        db.execute("INSERT INTO docs VALUES (?,?,?,?,?,?,?)",
                   (T, r.family, r.id, r.doc_type, r.sort_at(), f"etag{n}", r.to_json()))
        for k in set(doc["ixKeys"]):
            db.execute("INSERT INTO doc_keys VALUES (?,?,?,?,?,?)", (T, r.family, k, r.sort_at(), r.id, r.doc_type))
    # A key whose document is gone (nothing should leave one, but an upgrade must not fail on it).
    db.execute("INSERT INTO doc_keys VALUES (?,?,?,?,?,?)", (T, "interactions", "ct:ct_gone", "2026", "ix_gone", "interaction"))
    db.commit()
    db.close()


async def test_a_v1_store_upgrades_in_place_and_keeps_every_record(tmp_path) -> None:
    path = str(tmp_path / "v1.db")
    acct = Account.new(T, "client.com", name="Client Ltd", kind="client")
    jane = Contact.new(T, "jane@client.com", name="Jane Doe", accountId=acct.id)
    raj = Contact.new(T, "raj@client.com", name="Raj Patel", accountId=acct.id)
    mails = [Interaction(id=Interaction.id_for("graph", str(n)), tenantId=T, channel="email",
                         at=T0 + timedelta(hours=n), ownerOid="oid-p1", subject=f"mail {n}",
                         contactIds=[jane.id] if n % 2 else [jane.id, raj.id], sourceId=str(n)) for n in range(9)]
    write_v1(path, [acct, jane, raj, *mails])

    store = await Store(SqliteBackend(path)).open()
    try:
        got = await store.get(Contact, T, jane.id)
        assert got is not None and got.name == "Jane Doe" and got.etag == "etag1"
        page = await store.interactions_for_contact(T, contact_id("jane@client.com"), limit=20)
        assert [i.subject for i in page.items] == [f"mail {n}" for n in range(8, -1, -1)]
        assert [i.subject for i in (await store.interactions_for_contact(T, raj.id)).items] == [
            "mail 8", "mail 6", "mail 4", "mail 2", "mail 0"]
        assert {c.id for c in await store.contacts_of_account(T, acct.id)} == {jane.id, raj.id}
        # Writes after the upgrade: a rewrite keeps one set of keys, a new record is found by its key.
        await store.put_many([mails[0].model_copy(update={"subject": "mail 0, again"})])
        await store.put(Interaction(id="ix_new", tenantId=T, channel="note", at=T0 + timedelta(days=1),
                                    ownerOid="oid-p1", subject="new", contactIds=[raj.id], sourceId="n"))
        assert [i.subject for i in (await store.interactions_for_contact(T, raj.id)).items] == [
            "new", "mail 8", "mail 6", "mail 4", "mail 2", "mail 0, again"]
        await store.delete(Interaction, T, mails[8].id)
        assert len((await store.interactions_for_contact(T, jane.id, limit=50)).items) == 8
    finally:
        await store.close()
    # Opened again: nothing to upgrade, nothing lost.
    store = await Store(SqliteBackend(path)).open()
    try:
        assert len((await store.interactions_for_contact(T, jane.id, limit=50)).items) == 8
        db = sqlite3.connect(path)
        assert db.execute("SELECT COUNT(*) FROM doc_keys k LEFT JOIN docs d ON d.rid = k.rid "
                          "WHERE d.id IS NULL OR d.id <> k.id").fetchone() == (0,)
        db.close()
    finally:
        await store.close()


async def test_rids_stay_true_through_deletes_reinserts_and_checked_writes(tmp_path) -> None:
    path = str(tmp_path / "rids.db")
    store = await Store(SqliteBackend(path)).open()
    try:
        cid = contact_id("jane@client.com")

        def mail(n: int, subject: str) -> Interaction:
            return Interaction(id=f"ix_{n}", tenantId=T, channel="email", at=T0 + timedelta(hours=n),
                               ownerOid="oid-p1", subject=subject, contactIds=[cid], sourceId=str(n))

        await store.put_many([mail(n, f"mail {n}") for n in range(5)])
        await store.delete(Interaction, T, "ix_4")  # the newest rid is free again
        await store.put_many([mail(5, "mail 5"), mail(0, "mail 0, again")])  # one new, one rewrite
        jane = await store.put(Contact.new(T, "jane@client.com", name="Jane"))
        refused = await store.put_checked([(jane.model_copy(update={"title": "GC"}), jane.etag, False),
                                           (Contact.new(T, "raj@client.com", name="Raj"), None, True)])
        assert refused == []
        subjects = [i.subject for i in (await store.interactions_for_contact(T, cid)).items]
        assert subjects == ["mail 5", "mail 3", "mail 2", "mail 1", "mail 0, again"]
        assert (await store.contact_by_email(T, "raj@client.com")).name == "Raj"
    finally:
        await store.close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT COUNT(*) FROM doc_keys k LEFT JOIN docs d ON d.rid = k.rid "
                          "WHERE d.id IS NULL OR d.id <> k.id OR d.family <> k.family").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM docs").fetchone() == (7,)
    finally:
        db.close()
