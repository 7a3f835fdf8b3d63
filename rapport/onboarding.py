"""`rapport tenant add`: onboard a firm (allowed tenant, its own mail domains, the partners captured).

The rule for people (one, everywhere): a Person's id is its Entra object id (oid), and a Person
record exists only once that oid is known. Onboarding knows UPNs, not oids, so it records the
partners as UPNs on the Tenant (`Tenant.partners`: whose mail and calendar are captured). The first
sync asks Graph for each UPN (`GET /users/{upn}`) and writes the Person under its real oid
(rapport.capture.sync.resolve_person). No placeholder ids: a made-up oid would be used as a mailbox id and
as an owner of captured records, and would then have to be rewritten everywhere.
A partner already recorded (a Person with that UPN, e.g. from an earlier sync) is marked captured
(and enabled, if the firm had disabled them). Who then counts as a partner, and who as a person of
the firm at all, is decided in one place: rapport.identity.membership.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rapport.records import Person, Tenant, normalize_email
from rapport.store.base import Store

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class OnboardingError(ValueError):
    """Bad input to `rapport tenant add`; the message says which value and why."""


def parse_tenant_id(value: str) -> str:
    v = value.strip().lower()
    if not _GUID.match(v):
        raise OnboardingError(f"tenant id {value!r} is not a GUID (the firm's Entra directory id, "
                              "e.g. 72f988bf-86f1-41af-91ab-2d7cd011db47)")
    return v


def parse_domain(value: str) -> str:
    d = value.strip().lower().rstrip(".")
    if d.startswith("@"):
        d = d[1:]
    labels = d.split(".")
    if (len(d) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels)
            or not (labels[-1].isalpha() or labels[-1].startswith("xn--"))):
        raise OnboardingError(f"{value!r} is not a mail domain (expected something like firm.com)")
    return d


def parse_domains(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for raw in values:
        for part in raw.split(","):
            if part.strip():
                d = parse_domain(part)
                if d not in out:
                    out.append(d)
    if not out:
        raise OnboardingError("at least one --domain is needed (the firm's own mail domain)")
    return out


def parse_users(users: str, domains: list[str]) -> list[str]:
    out: list[str] = []
    for part in (users or "").split(","):
        if not part.strip():
            continue
        try:
            upn = normalize_email(part)
        except ValueError:
            raise OnboardingError(f"{part.strip()!r} is not a user principal name (expected name@firm.com)") from None
        domain = upn.rpartition("@")[2]
        if not any(domain == d or domain.endswith("." + d) for d in domains):
            raise OnboardingError(f"{upn} is not in the firm's domains ({', '.join(domains)}); "
                                  "add its domain with --domain")
        if upn not in out:
            out.append(upn)
    return out


async def add_tenant(store: Store, tenant_id: str, name: str, domains: list[str], upns: list[str]) -> dict[str, Any]:
    """Record (or extend) a firm and its captured partners. Idempotent: the same call twice writes
    the same records. Returns what changed, for printing."""
    current = await store.get_tenant(tenant_id)
    if current is None:
        tenant = Tenant(id=tenant_id, tenantId=tenant_id, name=name, domains=domains, partners=upns, allowed=True)
        action = "added"
    else:
        tenant = current.model_copy(deep=True)
        tenant.name = name
        tenant.domains = current.domains + [d for d in domains if d not in current.domains]
        tenant.partners = current.partners + [u for u in upns if u not in current.partners]
        tenant.allowed = True
        action = "unchanged" if tenant.model_dump(exclude={"etag"}) == current.model_dump(exclude={"etag"}) else "updated"
    if action != "unchanged":
        await store.put(tenant)
    people: list[tuple[str, str]] = []  # (upn, what happened)
    for upn in upns:
        person = await store.person_by_upn(tenant_id, upn)
        if person is None:
            people.append((upn, "captured from the first sync (its object id comes from Graph then)"))
        elif not person.captured or not person.enabled:
            await store.update(Person, tenant_id, person.id,
                               lambda p: p.model_copy(update={"captured": True, "enabled": True}))
            people.append((upn, f"captured again (oid {person.oid})"))
        else:
            people.append((upn, f"already captured (oid {person.oid})"))
    return {"tenant": tenant, "action": action, "people": people}


def parse_request(tenant_id: str, name: str, domains: list[str], users: str) -> tuple[str, str, list[str], list[str]]:
    """`rapport tenant add`'s arguments checked and normalised: (tenant id, name, domains, partner UPNs).
    Raises OnboardingError naming what is wrong."""
    tid = parse_tenant_id(tenant_id)
    if not name or not name.strip():
        raise OnboardingError("--name must not be empty")
    doms = parse_domains(domains)
    return tid, name.strip(), doms, parse_users(users, doms)
