"""rapport.runtime: the one services object, `provide` for hosts and `override` for a block."""

from __future__ import annotations

import pytest

from rapport import runtime
from rapport.settings import load_settings


def test_override_gives_the_previous_services_back():
    before = runtime.services()
    s = load_settings({"RAPPORT_SQLITE_PATH": "a.db"})
    with runtime.override(settings=s, drafter="d1") as inner:
        assert runtime.services() is inner and inner.settings is s and inner.drafter == "d1"
        with runtime.override(drafter="d2"):
            assert runtime.services().drafter == "d2" and runtime.settings() is s  # the innermost wins
        assert runtime.services().drafter == "d1"
    assert runtime.services() == before


def test_what_a_host_provides_shows_through_an_override_and_stays():
    saved = runtime.services().preview_tenant
    try:
        with runtime.override(drafter="d"):
            runtime.provide(preview_tenant="t-provided")
            assert runtime.services().preview_tenant == "t-provided"
        assert runtime.services().preview_tenant == "t-provided"
        with runtime.override(preview_tenant=None):
            assert runtime.services().preview_tenant is None
    finally:
        runtime.provide(preview_tenant=saved)


def test_defaults_are_made_once_per_services():
    made: list[int] = []

    def make() -> int:
        made.append(1)
        return len(made)

    with runtime.override(drafter="x"):
        assert runtime.services().once("thing", make) == runtime.services().once("thing", make) == 1
        with runtime.override(drafter="y"):  # other services: made again for them
            assert runtime.services().once("thing", make) == 2


def test_an_unknown_service_is_refused():
    with pytest.raises(TypeError, match="no such service: teams_sender"):
        with runtime.override(teams_sender=object()):
            pass
    with pytest.raises(TypeError, match="no such service"):
        runtime.provide(bogus=1)


async def test_the_store_opened_on_first_use_belongs_to_the_override_that_chose_the_settings(tmp_path):
    s = load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "r.db")})
    with runtime.override(settings=s, store=None):
        store = await runtime.store()
        with runtime.override(drafter="d"):
            assert await runtime.store() is store  # kept across a nested override
        assert runtime.opened_store() is store
        await store.close()
    assert runtime.opened_store() is not store


def test_collaborators_are_swapped_only_through_the_runtime_services():
    """One seam: no module keeps its own install_*/use_* setter over a module global (there were 15)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    setters = []
    for pkg in ("rapport", "bot", "addin"):
        for path in (root / pkg).rglob("*.py"):
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
                        node.name.startswith(("install", "use_")) or node.name in ("configure", "reset")):
                    setters.append(f"{path.relative_to(root)}:{node.name}")
    assert setters == []
