"""A firm's settings: read, and set generically over TenantSettings (`rapport tenant set|show`,
GET/PATCH /api/admin/settings).

`set_settings` knows no field by name: any field of rapport.records.TenantSettings is settable,
so a field another capability adds needs no change here. Values arrive as text (the CLI's
KEY=VALUE) or JSON (the API) and are validated by the model itself (pydantic: "true" is a bool,
"90" an int, "none" clears an optional field); an unknown key or a bad value raises FirmInputError
naming the allowed keys, and nothing is written. A field's old name (a validation alias such as
"actionableMessages" for outlookBriefs) is accepted as that field.

`show` adds what an admin checks next to the settings: when walls were last synced, each captured
mailbox's last Graph delta sync (per folder, with its last error), and each Graph subscription's
expiry.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, ValidationError

from rapport.firm import FirmInputError
from rapport.firm.people import firm
from rapport.records import AuditEvent, Subscription, SyncState, Tenant, TenantSettings, iso
from rapport.store.base import Store
from rapport.text import clean

_NONE_WORDS = ("none", "null")


def keys() -> dict[str, str]:
    """Every settable key (and old name) -> its field name."""
    out: dict[str, str] = {}
    for name, info in TenantSettings.model_fields.items():
        out[name] = name
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            out.update({a: name for a in alias.choices if isinstance(a, str)})
        elif isinstance(alias, str):
            out[alias] = name
    return out


def allowed_keys_text() -> str:
    return ", ".join(TenantSettings.model_fields)


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """`KEY=VALUE` words (the CLI) -> {key: value text}. FirmInputError on a word without '='."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise FirmInputError(f"{pair[:60]!r} is not KEY=VALUE; the keys are {allowed_keys_text()}")
        out[key.strip()] = value
    if not out:
        raise FirmInputError(f"nothing to set; give KEY=VALUE (keys: {allowed_keys_text()})")
    return out


def validated(current: TenantSettings, changes: dict[str, Any]) -> TenantSettings:
    """`current` with `changes` applied, validated as a whole. Raises FirmInputError."""
    names = keys()
    unknown = [k for k in changes if k not in names]
    if unknown:
        shown = clean(str(unknown[0]), multiline=False)[:40]
        raise FirmInputError(f"unknown setting {shown!r}; the settings are {allowed_keys_text()}")
    merged = current.model_dump()
    for key, value in changes.items():
        field = names[key]
        if isinstance(value, str):
            value = clean(value, multiline=False).strip()
            if value.lower() in _NONE_WORDS:
                value = None
        merged[field] = value
    try:
        return TenantSettings.model_validate(merged)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            problems.append(f"{where}: {err['msg']}")
        raise FirmInputError("; ".join(problems) + f" (the settings are {allowed_keys_text()})") from None


async def get_settings(store: Store, tenant_id: str) -> TenantSettings:
    return (await firm(store, tenant_id)).settings


async def set_settings(store: Store, tenant_id: str, changes: dict[str, Any], *, actor: str = "cli") -> tuple[TenantSettings, list[str]]:
    """Apply `changes` ({key: value}) to the firm's settings. Returns (settings, changed field names).
    Validated before anything is written; the write is bound to the Tenant read (ETag)."""
    if not isinstance(changes, dict) or not changes:
        raise FirmInputError(f"nothing to set; the settings are {allowed_keys_text()}")
    tenant = await firm(store, tenant_id)
    validated(tenant.settings, changes)  # refuse bad input before the read-modify-write

    def change(t: Tenant) -> Tenant | None:
        new = validated(t.settings, changes)
        if new == t.settings:
            return None
        t.settings = new
        return t

    updated = await store.update(Tenant, tenant_id, tenant_id, change)
    after = updated.settings if updated is not None else tenant.settings
    changed = [k for k in TenantSettings.model_fields if getattr(after, k) != getattr(tenant.settings, k)]
    if changed:
        # The keys and new values of settings (a firm's switches, never mail text): safe to keep.
        await store.audit(AuditEvent(id=f"au_{uuid.uuid4().hex}", tenantId=tenant_id, actorOid=actor,
                                     action="settings.changed", targetId=tenant_id,
                                     details={k: after.model_dump(mode="json")[k] for k in changed}))
    return after, changed


async def show(store: Store, tenant_id: str) -> dict[str, Any]:
    """The settings and the last sync times, as JSON-able data (the CLI prints it, the API returns it)."""
    tenant = await firm(store, tenant_id)
    people = {p.oid: p.upn for p in await store.people(tenant_id)}
    mailboxes: dict[str, dict[str, Any]] = {}
    for st in await store.find_all(SyncState, tenant_id):
        box = mailboxes.setdefault(st.userOid, {"upn": people.get(st.userOid, ""), "folders": {}})
        box["folders"][st.folder] = {"lastSyncAt": _at(st.lastSyncAt), "lastError": st.lastError or None}
    subs = [{"upn": people.get(s.userOid, ""), "userOid": s.userOid, "kind": s.kind, "expiresAt": _at(s.expiresAt),
             "renewedAt": _at(s.renewedAt or s.createdAt)}
            for s in await store.find_all(Subscription, tenant_id) if s.state == "active"]
    return {
        "tenant": tenant.id, "name": tenant.name, "consentState": tenant.consentState,
        "settings": tenant.settings.model_dump(mode="json"),
        "sync": {
            "wallsSyncedAt": _at(tenant.wallsSyncedAt),
            "mailboxes": [{"userOid": oid, **box} for oid, box in sorted(mailboxes.items(), key=lambda kv: kv[1]["upn"])],
            "subscriptions": sorted(subs, key=lambda s: (s["upn"], s["kind"])),
        },
    }


def _at(dt: datetime | None) -> str | None:
    return iso(dt) or None
