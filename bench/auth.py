"""Benchmark: add-in API token validation cost (prints figures; not pass/fail).

- warm: EntraValidator.caller() per request with the keys cached and the tenant and person decisions cached,
  the path every add-in request takes (budget: p95 under 0.5 ms);
- cold: a fresh validator's first request (OpenID metadata + JWKS fetched from a loopback HTTPS
  stand-in, keys parsed), and the import cost of the validation modules in a fresh interpreter.

Run: .venv/bin/python -m bench.auth [--n 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rapport.identity.keys import KeySet, fetch_json  # noqa: E402
from rapport.identity.tokens import EntraValidator, entra_metadata_url  # noqa: E402
from rapport.settings import load_settings  # noqa: E402
from tests.doubles.identity_server import IdentityServer  # noqa: E402
from tests.doubles.tokens import TestCA  # noqa: E402

TENANT = "aaaaaaaa-0000-4000-8000-00000000000a"
STORE_TENANT = "bbbbbbbb-0000-4000-8000-00000000000b"
AUDIENCE = "api://rapport.bench"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def import_cost() -> float:
    code = ("import time; t=time.perf_counter(); import rapport.identity.tokens, addin.auth; "
            "print((time.perf_counter()-t)*1000)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ca = TestCA.create(Path(tmp))
        server = await IdentityServer(ca).start()
        ssl_ctx = ca.client_context()
        settings = load_settings({"ENTRA_AUTHORITY_HOST": server.base_url, "RAPPORT_API_AUDIENCE": AUDIENCE,
                                  "RAPPORT_ALLOWED_TENANTS": TENANT, "RAPPORT_CLIENT_ID": "bench-client"})

        async def fetch(url: str):
            return await fetch_json(url, ssl_context=ssl_ctx)

        async def store_tenant(tid: str) -> bool:  # stands for the store read, cached by the validator
            return tid == STORE_TENANT

        async def store_person(tid: str, oid: str) -> bool:  # the Person read, cached the same way
            return True

        minter = server.minter(AUDIENCE)
        minter.client_app = "bench-client"  # the add-in's own registration (RAPPORT_CLIENT_ID)
        tokens = [minter.token(TENANT if i % 2 else STORE_TENANT) for i in range(n)]
        headers = [{"authorization": f"Bearer {t}"} for t in tokens]

        # cold: a new validator's first request fetches metadata + JWKS over loopback HTTPS
        colds = []
        for _ in range(5):
            v = EntraValidator(settings, KeySet(entra_metadata_url(settings), fetch=fetch), store_tenant,
                               person_member=store_person)
            t0 = time.perf_counter()
            await v.caller(headers[0])
            colds.append((time.perf_counter() - t0) * 1000)

        # warm
        for h in headers[:200]:
            await v.caller(h)
        times = []
        for h in headers:
            t0 = time.perf_counter()
            await v.caller(h)
            times.append((time.perf_counter() - t0) * 1000)
        assert v.keys.fetches == 1, "warm validation must not refetch keys"
        await server.stop()

    imports = [import_cost() for _ in range(3)]
    print(f"token validation, warm ({n} requests, distinct tokens, keys + tenant cached):")
    print(f"  p50 {statistics.median(times):.3f} ms   p95 {pct(times, 95):.3f} ms   p99 {pct(times, 99):.3f} ms"
          f"   max {max(times):.3f} ms   (budget p95 < 0.5 ms)")
    print("cold start:")
    print(f"  first validation with key fetch (loopback HTTPS stand-in): median {statistics.median(colds):.1f} ms"
          f"   max {max(colds):.1f} ms")
    print(f"  import rapport.identity.tokens + addin.auth in a fresh interpreter: median {statistics.median(imports):.0f} ms")
    print(f"  (python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    asyncio.run(main(parser.parse_args().n))
