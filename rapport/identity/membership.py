"""Who is a person of the firm, and who is a partner: the one place these are decided.

**Member** (may use the add-in API and the bot): a `Person` record of the tenant, that is, an
Entra user the firm has onboarded (a record exists for (tenant, oid)), not disabled, and not a
B2B guest (a guest's UPN carries `#EXT#`). Everyone else with a valid token of the tenant (a
random user of the directory, a guest, a token of another client app) is not a member, and gets
the one answer `NOT_ENABLED`, whatever the reason (no oracle for which check failed).
`refusal(claims, tenant_id)` holds the token-side checks (guest markers, the client app);
`is_member(person, tenant_id)` the record-side ones.

**Partner** (Rapport works for them: their mail and calendar are captured, they get briefs and
follow-up drafts, they are who the preview lets you act as): a member with `captured` set who is
one of the partners the firm listed at onboarding (`Tenant.partners`, UPNs); when the firm listed
none, a member whose `role` is "partner".

Before this module four places gave four answers for "partner" (tests/test_membership.py pins
where they differed):
- brief delivery: captured, and listed (or role "partner" when there is no list);
- the sync safety net: captured, and listed (anyone captured when there is no list);
- the sync work item and `rapport sync`: captured, listed or not;
- the follow-up timer: any Person of the tenant (an organiser merely recorded got drafts);
- the preview picker: role "partner", captured or not.
The one answer is brief delivery's, because it is the only one that honours both statements a
firm makes: the admin's list is the explicit choice of whose mailboxes Rapport may read (docs/
deploy.md limits Exchange access to them), so a record outside it is never synced or drafted for,
however its `captured` flag reads; and `captured` defaults to True on every Person, so without a
list the role is the only thing that tells a partner from an associate who merely uses the pane.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from typing import Any

from rapport.identity.caller import REQUIRED_SCOPE
from rapport.records import Person, Tenant

NOT_ENABLED = "Rapport is not enabled for you."

def teams_user_id(person: Person | None, oid: str) -> str:
    """How Teams names this person in a card's `refresh.userIds`: the user id of the conversation
    the bot has with them ("29:..."), else the MRI form of their Entra object id ("8:orgid:<oid>"),
    which Teams also accepts. Never the bare object id: Teams would not match it to anyone."""
    ref = person.conversationRef if person else None
    user = ref.get("user") if isinstance(ref, dict) else None
    uid = user.get("id") if isinstance(user, dict) else None
    return uid if isinstance(uid, str) and uid else f"8:orgid:{oid}"


GUEST_UPN_MARK = "#ext#"  # how Entra spells a B2B guest's UPN: alice_other.com#EXT#@firm.onmicrosoft.com


# --- members -------------------------------------------------------------------------------------

def is_member(person: Person | None, tenant_id: str) -> bool:
    """True for an onboarded, enabled, non-guest Person record of this tenant."""
    return (person is not None and person.tenantId == tenant_id and person.enabled
            and GUEST_UPN_MARK not in person.upn.lower())


def refusal(claims: Mapping[str, Any], tenant_id: str, host: str, client_apps: Container[str]) -> str | None:
    """Why a validated Entra access token is not a member's, from its claims alone; None if no reason.

    `host` is the Entra authority host; `client_apps` the lower-case ids of our client apps.

    The reason is for the log only: the caller gets NOT_ENABLED whichever it is.
    - `acct` 1: Entra marks a guest account (0 is a member of the tenant);
    - `idp` other than the tenant's own issuer: the user signed in through another directory
      (a B2B guest from another firm, or a personal account invited in);
    - the client app (`azp` in v2 tokens, `appid` in v1) is not one of `client_apps`.
    """
    if str(claims.get("acct", "0")) == "1":
        return "guest account (acct=1)"
    idp = claims.get("idp")
    if idp is not None and idp not in _own_issuers(tenant_id, host):
        return "signed in through another identity provider (idp)"
    client = claims.get("azp") or claims.get("appid")
    if not isinstance(client, str) or client.lower() not in client_apps:
        return "token of a client app that is not Rapport's"
    return None


def _own_issuers(tenant_id: str, host: str) -> set[str]:
    return {f"{host.rstrip('/')}/{tenant_id}/v2.0", f"https://sts.windows.net/{tenant_id}/"}


# --- the admin API's app role -----------------------------------------------------------------------
# Rapport's app registration declares one app role, ADMIN_APP_ROLE (docs/deploy.md). A firm's
# directory admin assigns it, in the firm's own tenant, to the people who administer Rapport and/or
# to the firm's own automation app (client credentials): Entra then puts it in the token's `roles`.
# The role on the token is the whole right to /api/admin/*: who administers a firm is the firm's
# directory's decision, made where the firm already manages access, not a record Rapport keeps.

ADMIN_APP_ROLE = "Rapport.Admin"


def is_app_only(claims: Mapping[str, Any]) -> bool:
    """An app-only (client credentials) token: Entra marks it idtyp=app (optional claim), and it
    never carries `scp` (a delegated token always does)."""
    return claims.get("idtyp") == "app" or ("scp" not in claims and "roles" in claims)


def has_admin_role(claims: Mapping[str, Any]) -> bool:
    roles = claims.get("roles")
    return isinstance(roles, list) and ADMIN_APP_ROLE in roles


def admin_refusal(claims: Mapping[str, Any], tenant_id: str, host: str, client_apps: Container[str]) -> str | None:
    """Why a validated token of an onboarded tenant may not call the admin API; None if no reason.

    Accepted: (a) an app-only token carrying ADMIN_APP_ROLE, from any app the firm assigned the role
    to (the assignment, made by the firm's admin in its own tenant, is the authorisation; the client
    is not one of ours, so `client_apps` is not checked); (b) a delegated token carrying
    ADMIN_APP_ROLE and our scope that passes `refusal` (not a guest, through our client app); the
    caller must then also be a member (`is_member`, checked by the validator against the store).
    The reason is for the log only."""
    if not has_admin_role(claims):
        return f"the token does not carry the {ADMIN_APP_ROLE} app role"
    if is_app_only(claims):
        return None
    scopes = claims.get("scp")
    if not isinstance(scopes, str) or REQUIRED_SCOPE not in scopes.split():
        return f"a delegated token without the {REQUIRED_SCOPE} scope"
    return refusal(claims, tenant_id, host, client_apps)


def guest_activity_marker(user_role: object) -> bool:
    """Teams' guest markers on an activity's `from` (`userRole` "guest" or "anonymous")."""
    return isinstance(user_role, str) and user_role.strip().lower() in ("guest", "anonymous")


# --- partners ------------------------------------------------------------------------------------

def is_partner(person: Person | None, tenant: Tenant) -> bool:
    """True for a member whose mail and calendar Rapport captures and works for (module docstring)."""
    if person is None or not is_member(person, tenant.tenantId) or not person.captured:
        return False
    if tenant.partners:
        return person.upn.lower() in {u.lower() for u in tenant.partners}
    return person.role == "partner"


def partners(tenant: Tenant, people: Iterable[Person]) -> list[Person]:
    """The tenant's partners among `people`, in the order given."""
    return [p for p in people if is_partner(p, tenant)]


# --- roles ---------------------------------------------------------------------------------------
# What a role may see and do, in one table. A surface asks `may(person, action)`; it never tests a
# role by name. Being a *partner* (above) is about whose mailbox is captured; a role is about what a
# member may do on top of using the pane and the bot, which every member may.

ROLE_ACTIONS: dict[str, frozenset[str]] = {
    # own relationships: briefs, follow-up drafts, enquiries routed to them, their week's card
    "own_relationships": frozenset({"partner", "managing_partner"}),
    # the BD desk's firm-wide view: enquiry deadlines missed, pipeline across partners
    "firm_pipeline": frozenset({"bd", "managing_partner"}),
    # the managing partner's Monday report: per-partner counts, never another's private records
    "firm_report": frozenset({"managing_partner"}),
    # people, roles, settings, imports, export and erasure (also the admin app role on a token)
    "administer": frozenset({"admin"}),
}
ROLES: tuple[str, ...] = ("partner", "associate", "bd", "managing_partner", "admin", "staff")


_ROLE_SPELLINGS = {"managing-partner": "managing_partner", "managing partner": "managing_partner", "mp": "managing_partner",
                   "business development": "bd", "business-development": "bd"}


def parse_role(value: str) -> str:
    """A role name as a firm's admin types it ("BD", "managing-partner") -> one of ROLES.
    Raises ValueError naming the allowed roles."""
    v = " ".join(str(value).strip().lower().split())
    v = _ROLE_SPELLINGS.get(v, v)
    if v not in ROLES:
        raise ValueError(f"unknown role {str(value).strip()[:40]!r}; the roles are {', '.join(ROLES)}")
    return v


def may(person: Person | None, action: str) -> bool:
    """True when `person` is enabled and their role grants `action` (a key of ROLE_ACTIONS).
    An unknown action is a programming error, not a silent no."""
    allowed = ROLE_ACTIONS[action]
    return person is not None and person.enabled and person.role in allowed
