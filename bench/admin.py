"""Benchmark: `rapport tenant export` of a big firm on the embedded store (records/second, peak memory).

    .venv/bin/python bench/admin.py [--db PATH] [--contacts 50000] [--interactions 1000000] [--keep]

What it does, and the budget it prints figures against (it reports; it does not pass or fail):
1. builds (or reuses, when the scale matches) a SQLite store with the demo firm scaled up to
   --contacts contacts and --interactions interactions, as bench/sidebar.py does (the same
   generator; default: a file in a temporary directory, removed afterwards unless --keep);
2. runs the export in a FRESH process (the CLI's export_command, progress on stderr) and samples its
   resident memory every 20 ms: the peak of its heap and stacks (RssAnon) against the budget,
   < 200 MB whatever the firm's size (the export pages through the store; nothing grows with the
   firm), with the baseline before the export (interpreter and imports) beside it. The store file
   SQLite maps (RssFile: page cache, reclaimable, the size of what was read) is printed apart:
   ru_maxrss would count it, and on Linux would also carry the parent's peak across exec;
3. prints records/second, the files' size, and checks the manifest's counts against the store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BUDGET_MB = 200


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _status() -> dict[str, float]:
    """This process' resident memory now, in MB: all of it, anonymous (heap, stacks) and file-backed
    (SQLite maps the store file: its pages count as resident while mapped, but are page cache)."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile"):
                out[name] = int(value.split()[0]) / 1024
    return out


class _Sampler:
    """Peaks of resident memory, sampled every 20 ms on a thread (ru_maxrss cannot separate the
    mapped store file from the heap, and on Linux it carries the parent's peak across exec)."""

    def __init__(self) -> None:
        import threading

        self.peak: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for k, v in _status().items():
                self.peak[k] = max(self.peak.get(k, 0.0), v)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def child(db: str, out: str) -> None:
    """The export process: prints one JSON line of figures on stdout."""
    from local.commands.firmdata import export_command
    from local.demo import DEMO_TENANT_ID
    from rapport.settings import load_settings

    settings = load_settings({"RAPPORT_SQLITE_PATH": db})
    baseline = _status()
    started = time.perf_counter()
    with _Sampler() as sampler:
        code = asyncio.run(export_command(settings, DEMO_TENANT_ID, Path(out)))
    seconds = time.perf_counter() - started
    print(json.dumps({"code": code, "seconds": seconds, "baseline": baseline, "peak": sampler.peak,
                      "maxrss_mb": _rss_mb()}))


def run(args: argparse.Namespace) -> None:
    from bench.sidebar import build_store

    work = Path(tempfile.mkdtemp(prefix="rapport-bench-admin-"))
    db = Path(args.db) if args.db else work / "firm.db"
    try:
        print(f"store: {db} ({args.contacts:,} contacts / {args.interactions:,} interactions)")
        info = asyncio.run(build_store(db, args.contacts, args.interactions))
        total = sum(info["counts"].values())
        print(f"  {total:,} records of the firm ({info.get('build_seconds', 0)} s to build)")
        out = work / "export"
        proc = subprocess.run([sys.executable, __file__, "--child", str(db), str(out)], capture_output=True,
                              text=True, cwd=ROOT)
        sys.stderr.write(proc.stderr)
        if proc.returncode != 0:
            raise SystemExit(f"export process failed ({proc.returncode})")
        fig = json.loads(proc.stdout.strip().splitlines()[-1])
        manifest = json.loads((out / "manifest.json").read_text())
        size = sum(f.stat().st_size for f in out.iterdir())
        exported = manifest["total"]
        print(f"export: exit {fig['code']}, {exported:,} records in {fig['seconds']:.1f} s "
              f"= {exported / fig['seconds']:,.0f} records/s; {size / 1e6:,.0f} MB of JSON Lines")
        print(f"  manifest counts match the store: {'yes' if exported == total else f'NO ({exported} vs {total})'}")
        peak, base = fig["peak"], fig["baseline"]
        anon = peak.get("RssAnon", 0.0)
        print(f"  peak memory of the export process, heap and stacks (RssAnon): {anon:.0f} MB "
              f"(budget < {BUDGET_MB} MB: {'ok' if anon < BUDGET_MB else 'OVER'}); "
              f"{base.get('RssAnon', 0.0):.0f} MB before the export (interpreter and imports), "
              f"so the export itself +{anon - base.get('RssAnon', 0.0):.0f} MB")
        print(f"  beside it, the store file mapped by SQLite (RssFile, page cache, reclaimable): peak "
              f"{peak.get('RssFile', 0.0):.0f} MB; all resident (VmRSS) peak {peak.get('VmRSS', 0.0):.0f} MB")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", help="the firm's SQLite store (default: generated into a temporary directory)")
    p.add_argument("--contacts", type=int, default=50_000)
    p.add_argument("--interactions", type=int, default=1_000_000)
    p.add_argument("--keep", action="store_true", help="keep the temporary store and the export")
    p.add_argument("--child", nargs=2, metavar=("DB", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(*args.child)
    else:
        run(args)


if __name__ == "__main__":
    main()
