"""pytest fixtures: Azurite's queue service (the Storage emulator, from node_modules), for the work queue.

- `azurite_queue` (session): `azurite-queue` on 127.0.0.1 and a free port, in memory, telemetry off.
  If it cannot start, every test that needs it FAILS (never skips): in CI, and locally too.
- `work_queue_env`: Rapport's environment naming that queue (the well-known development account's
  connection string, 127.0.0.1 and the port), with the work queue and its poison queue emptied first.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rapport import work_queue
from rapport.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
AZURITE_QUEUE = ROOT / "node_modules" / ".bin" / "azurite-queue"
START_TIMEOUT = 30.0  # seconds; node starts slowly on a busy machine


class AzuriteError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Azurite:
    port: int
    process: subprocess.Popen

    @property
    def connection_string(self) -> str:
        return work_queue.dev_connection_string("127.0.0.1", self.port)


def start_azurite(location: Path, port: int | None = None) -> Azurite:
    """Start azurite-queue (127.0.0.1 only, in memory, no telemetry); AzuriteError if it cannot."""
    if not AZURITE_QUEUE.exists():
        raise AzuriteError(f"{AZURITE_QUEUE} is missing (npm install)")
    port = port or free_port()
    location.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        # --skipApiVersionCheck: azure-storage-queue speaks a newer API version than this Azurite knows;
        # the calls Rapport makes (send, receive, update, delete, peek) are the same in both.
        [str(AZURITE_QUEUE), "--silent", "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck",
         "--queueHost", "127.0.0.1",
         "--queuePort", str(port)],  # in memory: Azurite refuses --location with it; cwd is the temp dir
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(location))
    ends = time.monotonic() + START_TIMEOUT
    while time.monotonic() < ends:
        if proc.poll() is not None:
            err = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace")[-500:]
            raise AzuriteError(f"azurite-queue exited with {proc.returncode}: {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return Azurite(port, proc)
        except OSError:
            time.sleep(0.1)
    stop_azurite(Azurite(port, proc))
    raise AzuriteError(f"azurite-queue did not listen on 127.0.0.1:{port} within {START_TIMEOUT:.0f} s")


def stop_azurite(azurite: Azurite) -> None:
    azurite.process.terminate()
    try:
        azurite.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        azurite.process.kill()
        azurite.process.wait(timeout=10)
    if azurite.process.stderr is not None:
        azurite.process.stderr.close()


@pytest.fixture(scope="session")
def azurite_queue(tmp_path_factory) -> Iterator[Azurite]:
    try:
        azurite = start_azurite(tmp_path_factory.mktemp("azurite"))
    except AzuriteError as exc:
        # A missing component is a failure, never a skip (CI=true or not).
        pytest.fail(f"Azurite (the Storage emulator) could not start: {exc}", pytrace=False)
    try:
        yield azurite
    finally:
        stop_azurite(azurite)


async def empty_queues(connection_string: str) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    settings = load_settings({"RAPPORT_WORK_QUEUE": connection_string})
    for name in (work_queue.QUEUE_NAME, work_queue.POISON_QUEUE_NAME):
        async with work_queue.queue_client(settings, name) as q:
            try:
                await q.clear_messages()
            except ResourceNotFoundError:
                pass


@pytest.fixture
async def work_queue_env(azurite_queue: Azurite) -> dict[str, str]:
    await empty_queues(azurite_queue.connection_string)
    return {"RAPPORT_WORK_QUEUE": azurite_queue.connection_string}
