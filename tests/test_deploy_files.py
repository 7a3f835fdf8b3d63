"""What an Azure Functions package of this checkout contains: local-only code is never deployed.

`func azure functionapp publish` (and `func pack`) ship the project directory minus what
`.funcignore` names, read with gitignore rules. This test applies those rules to the files git knows
(tracked, plus new files not ignored by .gitignore) and checks the result: the Azure host and the
three deployed packages are in it; local/ (the CLI, the local host, its timers, the demo, the outbox
page), tests, benchmarks, docs and scripts are not; and what is deployed imports without local/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# --- .funcignore, read as gitignore ----------------------------------------------------------------

def _glob_regex(glob: str) -> str:
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("/.*")
            i += 3
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 1:]:
            end = glob.index("]", i + 1)
            out.append("[" + glob[i + 1:end].replace("!", "^", 1) + "]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


def parse_ignore(text: str) -> list[tuple[bool, bool, bool, re.Pattern[str]]]:
    """gitignore lines -> (negated, dir_only, anchored, regex), in file order."""
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line[1:] if negated else line
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line  # a slash at the start or in the middle ties the pattern to the root
        rules.append((negated, dir_only, anchored, re.compile(_glob_regex(line.lstrip("/")) + r"\Z")))
    return rules


def ignored(path: str, rules: list[tuple[bool, bool, bool, re.Pattern[str]]]) -> bool:
    """Whether `path` (a file, relative, with /) is left out: it, or a directory above it, matches."""
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        prefix, is_dir = "/".join(parts[:depth]), depth < len(parts)
        verdict = False
        for negated, dir_only, anchored, regex in rules:
            if dir_only and not is_dir:
                continue
            if regex.match(prefix if anchored else parts[depth - 1]):
                verdict = not negated
        if verdict:
            return True  # git does not look inside an ignored directory: nothing below comes back
    return False


def deployed_files(root: Path = ROOT) -> list[str]:
    # The deployed set is read from git (tracked plus untracked-not-ignored files): a copy that is not
    # a checkout cannot be judged, and that is a failure, never a skip (CI runs in a fresh clone).
    assert (root / ".git").exists(), "the deployed-files check needs a git checkout"
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    rules = parse_ignore((root / ".funcignore").read_text(encoding="utf-8"))
    return sorted(f for f in set(listed) if (root / f).is_file() and not ignored(f, rules))


# --- the tests -----------------------------------------------------------------------------------

def test_funcignore_rules_read_as_gitignore():
    rules = parse_ignore("# comment\n.git*\ntests\n/local/\nlocal.settings.json\n*.pyc\n!keep.pyc\n")
    assert ignored("tests/test_x.py", rules) and ignored("a/tests/x.py", rules)  # unanchored: any level
    assert ignored("local/host.py", rules) and ignored("local/demo/build.py", rules)
    assert not ignored("rapport/local/x.py", rules)  # /local/ is anchored to the root
    assert not ignored("rapport/local_outbox.py", rules) and not ignored("local", rules)  # a file, not the dir
    assert ignored("local.settings.json", rules) and ignored(".gitignore", rules) and ignored("x/y.pyc", rules)
    assert not ignored("keep.pyc", rules) and not ignored("function_app.py", rules)


def test_the_azure_package_holds_the_host_and_no_local_only_code():
    files = deployed_files()
    tops = {f.split("/", 1)[0] for f in files}
    assert [f for f in files if f.startswith("local/")] == []  # the CLI, the local host, timers, demo, outbox page
    assert tops.isdisjoint({"local", "tests", "bench", "docs", "scripts", "infra", "node_modules", ".venv"})
    for needed in ("function_app.py", "host.json", "requirements.txt", "rapport/__init__.py", "bot/__init__.py",
                   "addin/__init__.py"):
        assert needed in files, needed
    # The local outbox's data half is the embedded default's delivery target: it ships.
    assert "rapport/local_outbox.py" in files
    assert "local.settings.json" not in files


_NO_LOCAL = """
import importlib, importlib.abc, sys

class NoLocal(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "local" or name.startswith("local."):
            raise ModuleNotFoundError(f"No module named {name!r} (local/ is not deployed)", name=name)
        return None

sys.meta_path.insert(0, NoLocal())
import function_app

functions = function_app.app.get_functions()  # what the Functions host indexes at start-up
for module in sys.argv[1:]:  # and every module deployed, so no lazy import reaches for local/
    importlib.import_module(module)
assert not [m for m in sys.modules if m == "local" or m.startswith("local.")]
print(len(functions))
"""


def test_the_deployed_files_import_without_local(tmp_path: Path):
    """The package as Azure gets it (copied out of the checkout), with local/ unimportable."""
    files = deployed_files()
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, tmp_path / f)
    modules = [".".join(Path(f).with_suffix("").parts).removesuffix(".__init__")
               for f in files if f.endswith(".py") and f != "function_app.py"]
    out = subprocess.run([sys.executable, "-c", _NO_LOCAL, *modules], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert int(out.stdout.strip()) > 10
