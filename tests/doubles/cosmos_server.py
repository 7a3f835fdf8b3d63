"""The local Cosmos DB stand-in: `@vercel/cosmosdb-server` from node_modules, on 127.0.0.1.

Started on an ephemeral port (`--port 0`; the server prints the port it bound) with its bundled
self-signed certificate, so clients talk HTTPS with COSMOS_VERIFY_TLS=false. Used by the pytest
fixtures (tests/plugins/cosmos.py) and by bench/store.py.
"""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "node_modules" / "@vercel" / "cosmosdb-server"
CLI = PACKAGE / "lib" / "cli.js"
CERT = PACKAGE / "cert.pem"
KEY = PACKAGE / "key.pem"
# The documented, public key of the Cosmos DB emulator; the local server accepts any key.
EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
_READY = re.compile(r"Ready to accept HTTPS? connections at ([\d.]+):(\d+)")


class CosmosServerError(RuntimeError):
    pass


class CosmosServer:
    """One running cosmosdb-server process. `start()` returns once it answers HTTPS requests."""

    def __init__(self, host: str = "127.0.0.1", start_timeout: float = 20.0) -> None:
        self.host = host
        self.start_timeout = start_timeout
        self.port: int | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._output: list[str] = []

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise CosmosServerError("the local Cosmos server is not running")
        return f"https://{self.host}:{self.port}/"

    def start(self) -> CosmosServer:
        node = shutil.which("node")
        if node is None:
            raise CosmosServerError("node is not on PATH (needed for @vercel/cosmosdb-server)")
        if not CLI.exists():
            raise CosmosServerError(f"{CLI} is missing: run scripts/setup (npm install)")
        self._proc = subprocess.Popen(
            [node, str(CLI), "--host", self.host, "--port", "0"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        found: dict[str, int] = {}
        ready = threading.Event()

        def pump() -> None:  # read the banner, then keep draining so the pipe never fills
            assert self._proc is not None and self._proc.stdout is not None
            for line in self._proc.stdout:
                if len(self._output) < 200:
                    self._output.append(line.rstrip())
                m = _READY.search(line)
                if m and not ready.is_set():
                    found["port"] = int(m.group(2))
                    ready.set()
            ready.set()

        threading.Thread(target=pump, name="cosmosdb-server-output", daemon=True).start()
        if not ready.wait(self.start_timeout) or "port" not in found:
            self.stop()
            raise CosmosServerError("the local Cosmos server did not start: " + " | ".join(self._output[-10:]))
        self.port = found["port"]
        self._wait_answering()
        return self

    def _wait_answering(self) -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                urllib.request.urlopen(self.endpoint, context=ctx, timeout=2).close()
                return
            except urllib.error.HTTPError:
                return  # any HTTP answer (401 without a signature) means it is serving
            except (urllib.error.URLError, OSError) as exc:
                if time.monotonic() > deadline or (self._proc and self._proc.poll() is not None):
                    self.stop()
                    raise CosmosServerError(f"the local Cosmos server does not answer: {exc}") from None
                time.sleep(0.05)  # start-up poll, not a test sleep

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        self.port = None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __enter__(self) -> CosmosServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def closed_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound then released), for 'store is down' tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


async def drop_database(endpoint: str, name: str) -> None:
    """Delete a test database (the local server keeps everything in memory)."""
    from azure.cosmos.aio import CosmosClient
    from azure.cosmos.exceptions import CosmosResourceNotFoundError

    async with CosmosClient(endpoint, credential=EMULATOR_KEY, connection_verify=False) as client:
        try:
            await client.delete_database(name)
        except CosmosResourceNotFoundError:
            pass
