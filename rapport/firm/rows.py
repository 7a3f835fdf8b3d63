"""Rows of a file the firm exports from one of its systems (CSV or JSON Lines), one at a time.

The importers (rapport.firm.walls, rapport.firm.matters) share this reader so they report bad
input the same way: each bad row by its line number (the line where the row starts) and a reason,
never a stack trace. Rows are streamed (a generator over the open file): a file of any size is
read in constant memory, and an importer that must write nothing for a file with errors reads it
twice (check, then write) rather than holding it.

Every value that enters goes through rapport.text.clean (the one rule) and is cut to a limit;
column names are matched case-insensitively with spaces and dashes read as "_", and each importer
names the aliases it accepts (a docketing or walls product names its columns its own way).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TextIO

from rapport.text import clean

MAX_FIELD = 4000  # characters in one cell: more is a bad row, not a stored essay
MAX_LIST = 500  # items in one list cell (matters a wall screens, people it names)
PROGRESS_EVERY = 10_000
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (missing, empty, no header, a required column
    missing). The message says which and why; the CLI exits 2 and the HTTP API answers 400."""


class BadRow(ValueError):
    """One row cannot be imported; `reason` says why (without the row's other values)."""


@dataclass(frozen=True)
class Problem:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class Report:
    """What an import found and did. Bad rows and unmatched rows are counted here and handed to
    the caller's callbacks one by one (so a report of a huge file stays small)."""

    rows: int = 0
    bad: int = 0
    written: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    notes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # the first KEEP_PROBLEMS bad rows
    KEEP_PROBLEMS = 200

    def add_problem(self, p: Problem) -> None:
        self.bad += 1
        if len(self.problems) < self.KEEP_PROBLEMS:
            self.problems.append(p)


Columns = dict[str, tuple[str, ...]]  # canonical name -> accepted header names (normalized)


def _norm(name: str) -> str:
    return "_".join(clean(name, multiline=False).strip().lower().replace("-", " ").split())


def text(value: Any, what: str, *, limit: int = 300) -> str:
    """One cell as clean single-line text; a BadRow if it is longer than `limit`."""
    if value is None:
        return ""
    if type(value) is str and value.isascii() and value.isprintable():  # the common case: nothing to clean
        v = value.strip()
        if len(v) > limit:
            raise BadRow(f"{what} is longer than {limit} characters")
        return v
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadRow(f"{what} is not text")
        value = str(value)
    if "\ufffd" in value:
        raise BadRow(f"{what} is not valid UTF-8")
    v = clean(value, multiline=False).strip()
    if len(v) > limit:
        raise BadRow(f"{what} is longer than {limit} characters")
    return v


def items(value: Any, what: str, *, limit: int = 300) -> list[str]:
    """A list cell: a JSON array, or text separated by ";" "|" or newlines (CSV). Blank items dropped,
    duplicates kept once, in order."""
    if value is None or value == "":
        return []
    raw: list[Any]
    if isinstance(value, list):
        raw = value
    elif isinstance(value, str):
        raw = value.replace("|", ";").replace("\n", ";").split(";")
    else:
        raise BadRow(f"{what} is not a list")
    out = [v for v in (text(r, what, limit=limit) for r in raw) if v]
    if len(out) > MAX_LIST:
        raise BadRow(f"{what} lists more than {MAX_LIST} items")
    return list(dict.fromkeys(out))


def day(value: Any, what: str) -> datetime | None:
    """A date cell (ISO: 2027-03-31, or an ISO date-time) as midnight UTC; "" is no date."""
    v = text(value, what, limit=40)
    if not v:
        return None
    try:
        if _DAY.match(v):
            d = date.fromisoformat(v)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise BadRow(f"{what} {v[:40]!r} is not a date (expected YYYY-MM-DD)") from None
    if not 1900 <= dt.year <= 2200:
        raise BadRow(f"{what} {v!r} is out of range")
    dt = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _is_jsonl(head: str) -> bool:
    return head.lstrip("\ufeff \t\r\n").startswith("{")


def rows(stream: TextIO, columns: Columns, required: tuple[str, ...], *,
         progress: Callable[[int], None] | None = None) -> Iterator[tuple[int, dict[str, Any] | Problem]]:
    """(line number, row) for each row of a CSV or JSON Lines stream, with its columns renamed to
    the canonical names (unknown columns dropped), or (line, Problem) for a row that cannot be
    read at all. Raises ImportFileError when the file as a whole is unusable."""
    alias = {a: canon for canon, names in columns.items() for a in (canon, *names)}
    head = stream.read(4096)
    if not head.strip("\ufeff \t\r\n"):
        raise ImportFileError("the file is empty")
    if not head.endswith("\n"):
        head += stream.readline()  # the peeked part ends at a line end, so the rest goes on from there
    chained = itertools.chain(io.StringIO(head, newline=""), stream)
    gen = _jsonl(chained, alias) if _is_jsonl(head) else _csv(chained, alias, required)
    n = 0
    for item in gen:
        n += 1
        if progress is not None and n % PROGRESS_EVERY == 0:
            progress(n)
        yield item


def _check_header(found: list[str], alias: dict[str, str], required: tuple[str, ...]) -> None:
    canon = {alias.get(h) for h in found}
    missing = [r for r in required if r not in canon]
    if missing:
        raise ImportFileError(f"the header has no {', '.join(missing)} column "
                              f"(found: {', '.join(h for h in found if h)[:300] or 'nothing'})")


def _csv(lines: Any, alias: dict[str, str], required: tuple[str, ...]) -> Iterator[tuple[int, Any]]:
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except (csv.Error, StopIteration) as exc:
        raise ImportFileError(f"the header cannot be read: {exc}") from None
    names = [_norm(h) for h in header]
    if names:
        names[0] = names[0].lstrip("\ufeff")
    _check_header(names, alias, required)
    keys = [alias.get(n) for n in names]
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line, Problem(line, f"not readable as CSV ({exc})")
            line = reader.line_num + 1
            continue
        start, line = line, reader.line_num + 1
        if not cells or not any(c.strip() for c in cells):
            continue  # a blank line
        if len(cells) != len(keys):
            yield start, Problem(start, f"has {len(cells)} fields, the header has {len(keys)}")
            continue
        if any(len(c) > MAX_FIELD for c in cells):
            yield start, Problem(start, f"a field is longer than {MAX_FIELD} characters")
            continue
        yield start, {k: c for k, c in zip(keys, cells, strict=True) if k is not None}


def _jsonl(lines: Any, alias: dict[str, str]) -> Iterator[tuple[int, Any]]:
    for n, raw in enumerate(lines, start=1):
        s = raw.strip().lstrip("\ufeff")
        if not s:
            continue
        if len(s) > MAX_FIELD * 20:
            yield n, Problem(n, "the line is too long")
            continue
        try:
            doc = json.loads(s)
        except ValueError:
            yield n, Problem(n, "not valid JSON")
            continue
        if not isinstance(doc, dict):
            yield n, Problem(n, "not a JSON object")
            continue
        # No header to check: a row without a required field is a bad row of its own (the importer's check).
        yield n, {alias[k2]: v for k, v in doc.items() if isinstance(k, str) and (k2 := _norm(k)) in alias}
