"""A wall imported from the firm's walls system takes the screened account off every surface at once.

The canary property test of tests/test_visibility_properties.py (sidebar and brief over HTTP, the
bot's answers and card refreshes, briefs.build, the follow-up drafting context, every scoped read),
with its wall no longer written by hand: it comes in through rapport.firm.walls.import_walls, as
the walls system sends it (clients by domain, people by UPN), in one of three shapes:
- exclusionary: the viewer is among the excluded people;
- inclusionary: the wall names insiders and the viewer is not one;
- stale: the wall screens a colleague only, but the firm's walls sync is older than its maximum
  age, so it screens everyone but its insiders (fails closed).
And the sidebar of a walled contact is byte-identical (but for the address and the time) to the
sidebar of an address nobody has ever seen.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta

from hypothesis import HealthCheck, Phase, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from rapport.firm.walls import import_walls
from rapport.records import Tenant, TenantSettings, Wall, utcnow
from tests.test_visibility_properties import (  # noqa: F401 - `surfaces` is a fixture
    FIRM_DOMAIN,
    TENANT,
    VIEWER,
    _examples,
    build,
    every_output,
    surfaces,
    worlds,
)

UPNS = {"viewer": f"ada@{FIRM_DOMAIN}", "teammate": f"tom@{FIRM_DOMAIN}", "colleague": f"cleo@{FIRM_DOMAIN}"}


def wall_file(ex: int, walled: set[int], shape: str) -> str:
    clients = ";".join(f"d{j}-ex{ex}.test" for j in sorted(walled))
    insiders, excluded = {
        "exclusionary": ("", UPNS["viewer"]),
        "inclusionary": (UPNS["teammate"], ""),
        "stale": ("", UPNS["colleague"]),
    }[shape]
    return ("wall_id,name,clients,insiders,excluded\n"
            f"EX{ex},Example {ex},{clients},{insiders},{excluded}\n")


async def sidebar(s, email: str) -> str:
    auth = {"Authorization": f"Bearer {s.dev_token()}"}
    async with s.http.get(s.host.base_url + "/api/addin/context", params={"email": email}, headers=auth) as r:
        assert r.status == 200
        body = await r.json()
    body.pop("asOf", None)
    return json.dumps(body, sort_keys=True).replace(email, "X").replace(email.rpartition("@")[2], "Y")


# One walled account with a contact, a mail, a matter, a draft and a signal, in each shape for sure.
ONE = {"owners": [[(VIEWER, "firm")]], "domains": [0], "webmail": [False], "walled": {0}, "delegate": False,
       "mail": [(VIEWER, 0, "email")], "meetings": [], "enquiries": [], "opportunities": [], "drafts": [(VIEWER, 0)],
       "signals": {0}}


@given(world=worlds, shape=st.sampled_from(["exclusionary", "inclusionary", "stale"]))
@example(world=ONE, shape="exclusionary")
@example(world=ONE, shape="inclusionary")
@example(world=ONE, shape="stale")
@hsettings(max_examples=12, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
async def test_an_imported_wall_hides_the_account_on_every_surface(surfaces, world, shape):  # noqa: F811
    ex = next(_examples)
    store = surfaces.bot.store
    records, expected, handles = build(world, ex)
    # The hand-written wall of the generated world goes: the walls system's file replaces it.
    records = [r for r in records if not isinstance(r, Wall)]
    await store.put_many(records)
    if world["walled"]:
        report = await import_walls(store, TENANT, io.StringIO(wall_file(ex, world["walled"], shape)))
        assert report.created == 1 and not report.bad
    if shape == "stale":
        tenant = await store.get_tenant(TENANT)
        assert tenant is not None
        await store.put(tenant.model_copy(update={"settings": TenantSettings(wallsMaxAgeHours=6),
                                                  "wallsSyncedAt": utcnow() - timedelta(hours=7)}))
    try:
        outputs = await every_output(surfaces, store, handles, ex)
        for where, text in outputs.items():
            leaked = [c for c, ok in expected.items() if not ok and c in text]
            assert not leaked, (shape, where, leaked)
        everything = " ".join(outputs.values())
        missing = [c for c, ok in expected.items() if ok and c not in everything]
        assert not missing, (shape, missing)
        # A walled contact's sidebar is the sidebar of an address nobody has seen.
        for i, email in enumerate(handles["emails"]):
            if world["domains"][i] in world["walled"] and not world["webmail"][i]:
                assert await sidebar(surfaces, email) == await sidebar(surfaces, f"nobody{ex}@unseen-ex{ex}.test")
    finally:
        # The next example starts from a firm that does not sync walls (each writes its own Tenant).
        await store.put(Tenant(id=TENANT, tenantId=TENANT, name="Firm A", domains=[FIRM_DOMAIN]))
