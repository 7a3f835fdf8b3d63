"""Packaging: the lock Azure Functions installs follows pyproject, and the app imports without I/O."""

import hashlib
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def _lock() -> tuple[str, dict[str, tuple[str, list[str]]]]:
    """The lock's recorded pyproject digest, and {name: (version, hashes)} for every pin."""
    text = (ROOT / "requirements.txt").read_text()
    digest = re.search(r"^# pyproject-dependencies-sha256: ([0-9a-f]{64})$", text, re.M)
    pins: dict[str, tuple[str, list[str]]] = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = re.match(r"([A-Za-z0-9._-]+)==([^ ;\\]+)", entry)
        if m:
            pins[canonicalize_name(m.group(1))] = (m.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", entry))
    return (digest.group(1) if digest else ""), pins


def _dependencies() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def test_lock_is_current_with_pyproject():
    # Offline: the lock records the digest of the dependencies it was resolved from, and every
    # direct dependency is pinned inside its range. Regenerate with scripts/lock.
    digest, pins = _lock()
    expected = hashlib.sha256(json.dumps(sorted(_dependencies())).encode()).hexdigest()
    assert digest == expected, "requirements.txt was not generated from this pyproject.toml: run scripts/lock"
    for dep in _dependencies():
        req = Requirement(dep)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in the lock"
        assert Version(pins[name][0]) in req.specifier, f"{req.name}=={pins[name][0]} is outside {req.specifier}"


def test_lock_pins_every_package_with_hashes():
    _digest, pins = _lock()
    assert len(pins) > 20
    for name, (version, hashes) in pins.items():
        assert "*" not in version and hashes, f"{name} is not pinned with hashes"


def test_every_dependency_has_a_bounded_major():
    for dep in _dependencies():
        req = Requirement(dep)
        if req.name == "tzdata":  # data, released by date: newer is always right
            continue
        assert any(s.operator in ("<", "<=", "==", "~=") for s in req.specifier), f"{dep} has no upper bound"


def test_installed_packages_match_the_lock():
    # What the tests run against is what Azure Functions installs (scripts/setup installs the lock).
    _digest, pins = _lock()
    wrong = {}
    for name, (version, _h) in pins.items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # a platform-conditional pin (e.g. for Windows only)
        if Version(installed) != Version(version):
            wrong[name] = (installed, version)
    assert not wrong, f"installed != locked: {wrong} (run scripts/setup)"


def test_function_app_imports_without_settings_or_store():
    # Azure imports function_app at host start; a missing setting must not break the import itself,
    # and nothing heavy (Graph SDK, OpenAI, botbuilder) may load on the way.
    code = (
        "import sys, function_app;"
        "heavy=[m for m in ('msgraph','openai','botbuilder.core') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    env = {"PATH": "/usr/bin:/bin", "RAPPORT_STORE": "cosmos"}  # malformed combination: must not matter at import
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"heavy modules imported at start-up: {out.stdout}"


def test_console_script_help_runs():
    exe = Path(sys.executable).parent / "rapport"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for command in ("serve", "tenant", "sync", "trigger", "dev-token", "manifest"):
        assert command in out.stdout
