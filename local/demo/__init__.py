"""The demo firm for `rapport serve --demo` and the tests: synthetic, reproducible, local only.

- data.py: its fixed facts (tenant id, partners, domains) and name lists;
- build.py: `build_demo(seed, now)`, pure: the firm's people, their mailboxes as Graph JSON, its records;
- seed.py: `seed_demo(store)`, idempotent: the mailboxes through rapport.capture, the records directly.
May import rapport; nothing in rapport, bot, addin or function_app imports it.
"""

from __future__ import annotations

from local.demo.build import DemoContact, DemoFirm, DemoMailbox, build_demo
from local.demo.data import (
    DEMO_FIRM_DOMAIN,
    DEMO_FIRM_DOMAINS,
    DEMO_FIRM_NAME,
    DEMO_PARTNERS,
    DEMO_TENANT_ID,
    WALLED_CLIENT,
    demo_account_id,
    demo_partner_upn,
)
from local.demo.seed import seed_demo

__all__ = [
    "DEMO_FIRM_DOMAIN", "DEMO_FIRM_DOMAINS", "DEMO_FIRM_NAME", "DEMO_PARTNERS", "DEMO_TENANT_ID", "WALLED_CLIENT",
    "DemoContact", "DemoFirm", "DemoMailbox", "build_demo", "demo_account_id", "demo_partner_upn", "seed_demo",
]
