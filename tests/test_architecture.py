"""The dependency rule and the absence of import cycles, read from the source (docs/architecture.md).

Every first-party import is counted, at module level and inside functions, so a lazy import cannot
hide a cycle or a layer break. There is no exception list: a new cycle or a rule break fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rapport", "bot", "addin", "admin", "manifest", "local")
# What rapport may never import: the surfaces, the hosts, and the frameworks that belong to them.
FORBIDDEN_FOR_RAPPORT = ("bot", "addin", "admin", "function_app", "local", "manifest", "azure.functions", "aiohttp.web")


def modules() -> dict[str, Path]:
    out = {"function_app": ROOT / "function_app.py"}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            out[name] = path
    return out


def imported_names(mod: str, path: Path) -> list[str]:
    """Every module name `mod` imports (absolute, relative resolved), wherever the import stands."""
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
            else:
                base = ""
            prefix = ".".join(p for p in (base, node.module or "") if p)
            # "from pkg import name" depends on pkg.name when that is a module, else on pkg itself
            # (graph() resolves each to the longest first-party module it names).
            names += [f"{prefix}.{a.name}" for a in node.names]
    return names


def graph() -> dict[str, set[str]]:
    mods = modules()

    def resolve(name: str) -> str | None:
        parts = name.split(".")
        return next((".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in mods), None)

    return {m: {t for t in map(resolve, imported_names(m, p)) if t and t != m} for m, p in mods.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in g:
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            advanced = False
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(g[w]))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_the_checker_sees_a_cycle_and_a_lazy_import():
    # The checker itself must be able to fail: a two-module cycle made only of function-level imports.
    g = {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert cycles(g) == [["a", "b"]]
    tree = "def f():\n    from rapport import work\n"
    path = ROOT / "tests" / "__arch_probe__.py"
    try:
        path.write_text(tree)
        assert "rapport.work" in imported_names("tests.__arch_probe__", path)
    finally:
        path.unlink()


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_rapport_imports_no_surface_host_or_framework():
    g = graph()
    broken = []
    for mod, path in modules().items():
        if not mod.startswith("rapport"):
            continue
        for name in imported_names(mod, path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_FOR_RAPPORT):
                broken.append((mod, name))
        broken += [(mod, t) for t in g[mod] if not t.startswith("rapport")]
    assert sorted(set(broken)) == []


def test_surfaces_import_rapport_only_and_only_local_imports_function_app():
    g = graph()
    for mod, targets in g.items():
        if mod.startswith("bot"):
            assert not [t for t in targets if t.startswith(("addin", "local", "function_app"))], mod
        if mod.startswith("addin"):
            assert not [t for t in targets if t.startswith(("bot", "admin", "local", "function_app"))], mod
        if mod.startswith("admin"):
            assert not [t for t in targets if t.startswith(("bot", "addin", "local", "function_app"))], mod
        if "function_app" in targets:
            assert mod.startswith("local"), mod
    assert not [m for m, ts in g.items() if not m.startswith("local") and any(t.startswith("local") for t in ts)]
