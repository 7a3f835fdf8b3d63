"""Packaging: the Azure Functions requirements follow pyproject, and the app imports without I/O."""

import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _render() -> str:
    loader = importlib.machinery.SourceFileLoader("gen_requirements", str(ROOT / "scripts" / "gen-requirements"))
    spec = importlib.util.spec_from_loader("gen_requirements", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.render()


def test_requirements_txt_matches_pyproject():
    committed = (ROOT / "requirements.txt").read_text()
    assert committed == _render(), "requirements.txt drifted from pyproject.toml: run scripts/gen-requirements"


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
