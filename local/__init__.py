"""Rapport on a machine: the code that runs locally and never in Azure (.funcignore excludes local/).

- cli.py: the `rapport` command (serve, trigger, tenant add, sync, dev-token, manifest); it prints,
  the domain functions it calls return results.
- host.py: the local host, function_app's triggers on aiohttp (`DevHost`), the azure.functions <->
  aiohttp adapter, its error middleware and its own /dev/outbox routes.
- timers.py + ncrontab.py: function_app's timer triggers on asyncio at their NCRONTAB schedules.
- outbox_page.py: the HTML of /dev/outbox (its data: rapport.local_outbox).
- demo/: the synthetic demo firm, built and seeded.

The dependency rule (docs/architecture.md, "The dependency rule"): local -> function_app -> bot, addin
-> rapport. local/ may import any of them and is the only code that imports function_app (host.py);
nothing outside local/ (and tests/, bench/) imports local.
"""
