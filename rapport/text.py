"""THE rule for text entering Rapport: `clean(value, limit=..., multiline=...)`.

Every text from outside (HTTP query strings and JSON bodies, card inputs, bot activities, Graph
fields) goes through `clean` before Rapport keeps or acts on it, so no stored value can break a
later read: a lone surrogate cannot be encoded as UTF-8 (the record would not serialise, or would
not load again), a NUL or other control character breaks logs and some stores, and bidi overrides
and zero-width characters make text read as something else (a name that displays as another, an
instruction hidden from a reader). Other modules that clean for display or for the model (cards,
drafting) call this function and add only their own layout rules.

What `clean` does:
- lone surrogates (U+D800-U+DFFF, only possible in a str decoded from a JSON escape) are removed;
- C0/C1 control characters are removed, except tab and line breaks: kept as tab and "\\n" when
  `multiline` ("\\r\\n", "\\r", U+0085, U+2028, U+2029, VT and FF become "\\n"), each folded to
  one space otherwise;
- every "format" character (Unicode category Cf: zero-width space/joiners, LRM/RLM, bidi
  embeddings, overrides and isolates, soft hyphen, BOM, tag characters) and the few printable
  characters that render as nothing (variation selectors, Hangul fillers, combining grapheme
  joiner) are removed;
- with `limit`, a longer result is cut to at most `limit` characters ending in "…";
- anything that is not a str gives "".

It is idempotent and cheap on the common case: printable ASCII (and printable text without the
few printable invisibles) is returned as is after one C-level check.
"""

from __future__ import annotations

import re
from typing import Any

MARKER = "\u2026"  # "…": a value was cut here

# Unicode's "format" characters (category Cf, as of Unicode 15.1), listed rather than computed so
# that importing costs nothing; tests/test_text_boundary.py checks the list covers this Python's
# unicodedata.
_FORMAT = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f"  # zero-width space, non-joiner, joiner; LRM, RLM
    "\u202a-\u202e"  # bidi embeddings and overrides
    "\u2060-\u2064\u2066-\u206f"  # word joiner, invisible operators, bidi isolates, deprecated format
    "\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"  # tag characters ("ASCII smuggling")
)
# Printable by str.isprintable(), yet rendered as nothing: used to split a word so a filter misses
# it, or to pad a name. (Variation selectors also pick emoji presentation; losing that is harmless.)
_PRINTABLE_INVISIBLE = (
    "\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180d\u180f\u3164\ufe00-\ufe0f\uffa0"
    "\U000e0100-\U000e01ef"
)
# Control characters that are not line breaks or tab, and lone surrogates.
_CONTROL = "\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff"

INVISIBLE = re.compile(f"[{_FORMAT}{_PRINTABLE_INVISIBLE}]")  # for modules that only flag or strip these
_DROP = re.compile(f"[{_CONTROL}{_FORMAT}{_PRINTABLE_INVISIBLE}]+")
_PRINTABLE_INVISIBLE_RE = re.compile(f"[{_PRINTABLE_INVISIBLE}]")
_OTHER_BREAK = re.compile("[\r\x0b\x0c\x85\u2028\u2029]")  # line breaks other than "\n" (after "\r\n" -> "\n")
_ANY_BREAK = re.compile("[\t\n\r\x0b\x0c\x85\u2028\u2029]")  # tab and every line break


def clean(value: Any, *, limit: int | None = None, multiline: bool = True) -> str:
    """`value` as text Rapport may keep: see the module docstring. Not a str -> ""."""
    if type(value) is not str:
        if not isinstance(value, str):
            return ""
        value = str.__str__(value)  # a plain str copy of a str subclass (its own methods could do anything)
    if value.isprintable():
        # The common case (no control, format, surrogate or separator character): only the few
        # printable invisibles can be there, and never in ASCII.
        if not value.isascii() and _PRINTABLE_INVISIBLE_RE.search(value):
            value = _DROP.sub("", value)
    else:
        value = _DROP.sub("", value)
        if multiline:
            value = _OTHER_BREAK.sub("\n", value.replace("\r\n", "\n"))
        else:
            value = _ANY_BREAK.sub(" ", value)
    if limit is not None and len(value) > limit:
        value = cut(value, limit)
    return value


def cut(value: str, limit: int) -> str:
    """`value` (already clean) in at most `limit` characters; a cut one ends in "…"."""
    if len(value) <= limit:
        return value
    if limit <= 0:
        return ""
    return value[: limit - 1].rstrip() + MARKER


def clean_json(value: Any) -> Any:
    """A parsed JSON value with every string in it (keys too) cleaned; other values as they are.

    Iterative, so a deep value cannot exhaust the stack (bodies are depth-checked anyway)."""
    if isinstance(value, str):
        return clean(value)
    if not isinstance(value, dict | list):
        return value
    root: list[Any] = [value]
    stack: list[tuple[Any, Any, Any]] = [(root, 0, value)]  # (parent, key in parent, node)
    while stack:
        parent, key, node = stack.pop()
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for k, v in node.items():
                ck = clean(k) if isinstance(k, str) else k
                if isinstance(v, str):
                    out[ck] = clean(v)
                else:
                    out[ck] = v
                    if isinstance(v, dict | list):
                        stack.append((out, ck, v))
            parent[key] = out
        else:
            items = list(node)
            for i, v in enumerate(items):
                if isinstance(v, str):
                    items[i] = clean(v)
                elif isinstance(v, dict | list):
                    stack.append((items, i, v))
            parent[key] = items
    return root[0]
