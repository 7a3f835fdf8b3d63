"""Controls around model input and output (docs/reliability.md, "Drafting with a model").

Input: untrusted text is reduced to plain text. HTML becomes text with hidden elements, comments,
scripts and styles dropped; zero-width, bidi-control, tag and other invisible characters are
removed; the caller learns what was found so the draft can be flagged.

Links and addresses: one rule (`links_in`, `strip_links`) finds them in any text. Text written
outside the firm (subjects, display names, titles, excerpts) never brings one into a draft, a prompt's
record facts or a bot reply (`outsider_field` for drafts and prompts).

Output: the model's text is checked against what the input records contain. Anything that could
carry data out of the firm or add a recipient (HTML, images, recipient lines, any URL or address not
in firm-authored material: the partner's own name, address and domain, the code-chosen recipients)
rejects the output; numbers and dates no input contains are only highlighted.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapport.text import clean

_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?![.\d]*[1-9])|"
    r"max-height\s*:\s*0(?![.\d]*[1-9])|opacity\s*:\s*0(?:\.0*)?\s*(?:;|$)|"
    r"color\s*:\s*(?:#fff(?:fff)?\b|white\b|transparent\b)|mso-hide\s*:\s*all",
    re.IGNORECASE,
)
_DROP_TAGS = {"script", "style", "head", "title", "template", "noscript", "iframe", "object", "svg"}
_VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "ul", "ol"}
_LOOKS_LIKE_HTML = re.compile(r"<(?:/?[a-zA-Z][a-zA-Z0-9]{0,20}[\s/>]|!--)")
MAX_RAW_UNTRUSTED = 50_000  # an excerpt longer than this is cut before parsing (bounded work)


@dataclass
class Sanitised:
    text: str
    hidden_characters: bool = False  # zero-width, bidi, tag characters or controls were removed
    hidden_text: bool = False  # hidden HTML elements or comments were dropped

    @property
    def flags(self) -> list[str]:
        return (["hidden_characters"] if self.hidden_characters else []) + (
            ["hidden_text"] if self.hidden_text else []
        )


def strip_invisible(text: str) -> tuple[str, bool]:
    """NFKC-normalise, then remove invisible and control characters by Rapport's one text rule
    (rapport.text.clean: zero-width, bidi, tag and other format characters, controls but tab and
    newline, lone surrogates). Returns (text, found any)."""
    normal = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    cleaned = clean(normal)
    return cleaned, cleaned != normal


def clean_field(text: str, limit: int = 300) -> tuple[str, bool]:
    """One-line record text (a subject, a name): invisible characters out, whitespace collapsed."""
    cleaned, found = strip_invisible(text or "")
    return " ".join(cleaned.split())[:limit], found


def outsider_field(text: str, limit: int = 300) -> tuple[str, bool]:
    """One-line record text as a draft or a prompt may use it: cleaned (clean_field), then with every
    link and address left out (strip_links), since subjects, names and titles are written outside the
    firm. Cut before stripping, so a cut can only shorten a link, never leave half of one behind.
    Returns (text, hidden characters were found)."""
    cleaned, found = clean_field(text, limit)
    return strip_links(cleaned), found


# A linear tokenizer rather than html.parser, which is quadratic on unterminated tags ("<p <p <p...")
# and would let a hostile email burn a worker's CPU. Quoted attribute values are bounded too.
_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9:\-]{0,30})((?:[^<>\"']|\"[^\"<]{0,1000}\"|'[^'<]{0,1000}'){0,100})\s*/?>"
)
_DECLARATION = re.compile(r"<[!?][^<>]{0,1000}>")
_ATTR = re.compile(r"([a-zA-Z_:][\w:.\-]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?")


def _hidden_tag(tag: str, attrs: str) -> bool:
    if tag in _DROP_TAGS:
        return True
    for m in _ATTR.finditer(attrs):
        name, value = m.group(1).lower(), (m.group(2) or "").strip("\"'")
        if name == "hidden" or (name == "aria-hidden" and value.lower() == "true"):
            return True
        if name == "style" and _HIDDEN_STYLE.search(html.unescape(value)):
            return True
    return False


def _visible_text(markup: str) -> tuple[str, bool]:
    parts: list[str] = []
    stack: list[tuple[str, bool]] = []  # open elements: (tag, starts a hidden region)
    open_count: dict[str, int] = {}  # so a stray end tag costs O(1), not a scan of the stack
    hidden_depth, found, pos = 0, False, 0

    def text(chunk: str) -> None:
        nonlocal found
        if hidden_depth:
            found = found or bool(chunk.strip())
        else:
            parts.append(html.unescape(chunk))

    for m in _TAG.finditer(markup):
        text(markup[pos:m.start()])
        pos = m.end()
        closing, tag = m.group(1) == "/", m.group(2).lower()
        if tag in _VOID_TAGS:
            if tag == "br" and not hidden_depth:
                parts.append("\n")
            continue
        if closing:
            # Close up to the matching open element; a stray end tag is ignored.
            while open_count.get(tag):
                t, hid = stack.pop()
                open_count[t] -= 1
                hidden_depth -= hid
                if t == tag:
                    break
        else:
            hid = _hidden_tag(tag, m.group(3))
            if hid and tag not in ("script", "style", "head"):
                found = True
            stack.append((tag, hid))
            open_count[tag] = open_count.get(tag, 0) + 1
            hidden_depth += hid
        if tag in _BLOCK_TAGS and not hidden_depth:
            parts.append("\n")
    text(markup[pos:])
    return "".join(parts), found


def _drop_comments(html: str) -> tuple[str, bool]:
    """Remove <!-- ... --> in linear time; an unterminated comment hides the rest."""
    parts: list[str] = []
    pos, found = 0, False
    while (start := html.find("<!--", pos)) != -1:
        parts.append(html[pos:start])
        end = html.find("-->", start + 4)
        found = found or bool(html[start + 4:end if end != -1 else len(html)].strip())
        if end == -1:
            pos = len(html)  # unterminated: everything after it is hidden from a reader
            found = True
            break
        pos = end + 3
    parts.append(html[pos:])
    return "".join(parts), found


def html_to_text(markup: str) -> tuple[str, bool]:
    """Visible text of an HTML fragment. Returns (text, hidden content was dropped)."""
    markup, comments = _drop_comments(markup)
    text, hidden = _visible_text(_DECLARATION.sub(" ", markup))
    return text, hidden or comments


def sanitise_untrusted(text: str, limit: int = 2000) -> Sanitised:
    """Reduce an email excerpt to the plain text a reader would see, bounded in length."""
    raw = (text or "")[:MAX_RAW_UNTRUSTED]
    hidden_text = False
    if _LOOKS_LIKE_HTML.search(raw):
        raw, hidden_text = html_to_text(raw)
    cleaned, hidden_chars = strip_invisible(raw)
    lines = [" ".join(line.split()) for line in cleaned.split("\n")]
    compact = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return Sanitised(text=compact[:limit], hidden_characters=hidden_chars, hidden_text=hidden_text)


# --- signals on untrusted text (Prompt-Shields-like: a signal for the partner, never a gate) ------

_INSTRUCTION_HINTS = re.compile(
    r"\b(?:ignore (?:all |any )?(?:previous|prior|above)|disregard (?:the|all|previous)|system prompt|"
    r"you are now|new instructions|b?cc\s*:|add (?:a |the )?(?:recipient|bcc|cc)|send (?:it |this )?now|"
    r"forward (?:this|it) to|other clients|list (?:all|the firm)|include (?:this|the following) (?:link|image))",
    re.IGNORECASE,
)


def looks_like_instructions(text: str) -> bool:
    return bool(_INSTRUCTION_HINTS.search(text))


# --- output checks ----------------------------------------------------------------------------

# --- links and addresses in text (one rule: both drafters, the output check and the bot use it) ---
#
# Text written outside the firm (subjects, display names, signatures, excerpts) is data: it may never
# bring a link or an address into a draft or a bot reply. "Link" is what any renderer or mail client
# could turn into something clickable: a scheme URL (any case), www., a bare host name such as
# evil.example/x (unicode and punycode labels, ideographic or fullwidth dots), an IPv4 address with a
# port or path, markdown links and autolinks <...>; "address" is an email address or an international
# phone number (+44 20 ...). Postal addresses are not detected: no cheap rule tells them from prose.

# Label separators browsers accept besides "." (IDNA). NFKC already maps the fullwidth and halfwidth
# ones (U+FF0E, U+FF61 via U+3002); U+3002 itself it leaves alone.
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_LABEL = r"[^\W_](?:[\w\-]{0,61}[^\W_])?"
_TLD = r"(?:xn--[a-z0-9\-]{1,59}|[^\W\d_]{2,24})"
_HOST = rf"(?:{_LABEL}\.)+{_TLD}"
# File names look like host names; these extensions are not top-level domains (.zip and .mov are,
# and stay links).
_NOT_TLDS = frozenset(
    "pdf doc docx xls xlsx xlsm ppt pptx txt csv rtf odt ods odp msg eml png jpg jpeg gif bmp tif tiff "
    "heic svg htm html xml json md log tmp bak".split()
)
_URL_TAIL = r"[^\s<>\"'`\u2018\u2019\u201c\u201d]*"  # a link ends at a space, a bracket or a quote
_LINK_TOKEN = re.compile(
    # Lookbehinds make the other finders start only where a word starts: linear time on long replies.
    # A scheme is bounded (31 characters), so trying one at every position stays linear.
    rf"(?P<url>[a-z][a-z0-9+.\-]{{0,30}}://{_URL_TAIL}"
    rf"|(?<![\w+.\-/:])//(?={_HOST}){_URL_TAIL}"  # protocol-relative
    rf"|(?<![a-z0-9])(?:mailto|tel|sms|callto|sips?|javascript|vbscript|data|file|skype|msteams|ms-[a-z\-]{{1,30}}):"
    rf"[^\s<>\"'`]+)"
    rf"|(?P<address>(?<![\w.%+\-'])[\w.%+\-']{{1,64}}@(?:{_HOST}|\[[0-9a-f.:]{{2,45}}\]))"
    rf"|(?P<ip>(?<![\w.\-])\d{{1,3}}(?:\.\d{{1,3}}){{3}}(?::\d{{1,5}}|[/?#]){_URL_TAIL})"
    rf"|(?P<host>(?<![\w.\-@])(?P<hostname>{_HOST})(?![\w\-@])(?:(?::\d{{1,5}})?[/?#]{_URL_TAIL}|:\d{{1,5}})?)"
    rf"|(?P<phone>(?<![\w+])\+\d[\d ().\-/]{{6,24}}\d(?!\w))",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?'\")]}>*_~"
# A markdown link or image keeps only its visible label; an autolink <...> goes whole.
_MARKDOWN_LINK = re.compile(r"!?\[([^\[\]\n]{0,300})\]\([^()\n]{0,2000}(?:\([^()\n]{0,200}\)[^()\n]{0,200})?\)")
_AUTOLINK = re.compile(r"<[^<>\s]{1,2000}>")  # an autolink when it holds a ":", "@" or "." (_autolink)
_EMPTY_PAIRS = re.compile(r"\(\s*\)|\[\s*\]|<\s*>|\{\s*\}|\"\s*\"|\u201c\s*\u201d|'\s*'|(\*\*|__|\*|_|~~|`)\s*\1")


@dataclass(frozen=True)
class Link:
    kind: str  # "url", "address", "ip", "host", "phone", "markdown"
    text: str  # as found, after normalising
    host: str = ""  # lower-case host of a url/host/ip, domain of an address


# Plain ASCII without these characters cannot hold a link or an address (the common case: fast).
_LINK_CHARS = frozenset(".@:+<[")


def _autolink(token: str) -> bool:
    return any(ch in token for ch in ":@.")


def _matchable(text: str) -> str:
    """What the finders read: NFKC, invisible characters out, every IDNA dot a '.'."""
    if text.isascii() and text.isprintable() and _LINK_CHARS.isdisjoint(text):
        return text
    return strip_invisible(text or "")[0].translate(_DOTS)


def _linkless(normal: str) -> bool:
    return normal.isascii() and _LINK_CHARS.isdisjoint(normal)


def _trim(url: str) -> str:
    """Sentence punctuation after a link is not part of it; a closing bracket is when it closes one
    the link opened (https://x.example/a_(b), javascript:alert(1))."""
    while url and url[-1] in _TRAILING:
        closer = url[-1]
        opener = {")": "(", "]": "[", "}": "{"}.get(closer)
        if opener and url.count(opener) >= url.count(closer):
            break
        url = url[:-1]
    return url


def _links(normal: str) -> list[tuple[int, int, Link]]:
    found: list[tuple[int, int, Link]] = []
    for m in _LINK_TOKEN.finditer(normal):
        kind = m.lastgroup if m.lastgroup != "hostname" else "host"
        start, end = m.span()
        value = m.group(0)
        if kind in ("url", "ip", "host"):
            trimmed = _trim(value)
            end -= len(value) - len(trimmed)
            value = trimmed
            if kind == "url" and not (value[2:] if value.startswith("//") else value.partition(":")[2]).strip("/"):
                continue  # a scheme with nothing after it ("https://") leads nowhere
        if kind == "host":
            name = m.group("hostname").lower()
            if name.rpartition(".")[2] in _NOT_TLDS and value.lower() == name:
                continue  # "Agreement.pdf": a file name, not a link
            host = name
        elif kind == "phone":
            if sum(ch.isdigit() for ch in value) < 8:
                continue
            host = ""
        elif kind == "address":
            host = value.rpartition("@")[2].lower().strip("[]")
        else:
            host = _host_of(value)
        found.append((start, end, Link(kind, value, host.removeprefix("www."))))
    return found


def links_in(text: str) -> list[Link]:
    """Every link and address in `text` (markdown links and autolinks too), in order."""
    normal = _matchable(text or "")
    if _linkless(normal):
        return []
    out = [Link("markdown", m.group(0)) for m in _MARKDOWN_LINK.finditer(normal)]
    out += [Link("markdown", m.group(0)) for m in _AUTOLINK.finditer(normal) if _autolink(m.group(0))]
    return out + [link for _, _, link in _links(normal)]


def strip_links(text: str) -> str:
    """`text` with every link and address left out, and the brackets or punctuation they leave
    tidied; line breaks are kept. "Catch up re https://evil.example/x" -> "Catch up re"."""
    out = _matchable(text or "")
    for _ in range(3):  # tidying joins what was around a link: look again (twice is plenty in practice)
        if _linkless(out):
            return out
        out, removed = _strip_once(out)
        if not removed:
            return out
    return out if not links_in(out) else ""  # never reached by any input found so far; fail closed


def _strip_once(original: str) -> tuple[str, bool]:
    normal = _AUTOLINK.sub(lambda m: " " if _autolink(m.group(0)) else m.group(0),
                           _MARKDOWN_LINK.sub(lambda m: f" {m.group(1)} ", original))
    found = _links(normal)
    if not found and normal == original:
        return original, False  # nothing to leave out: the text stays as it was
    parts, pos = [], 0
    for start, end, _ in found:
        parts.append(normal[pos:start])
        parts.append(" ")
        pos = end
    parts.append(normal[pos:])
    lines = []
    for line in "".join(parts).split("\n"):
        for _ in range(10):  # "( [ ] )" -> "( )" -> "": bounded, outsider fields are short
            tidier = _EMPTY_PAIRS.sub(" ", line)
            if tidier == line:
                break
            line = tidier
        line = " ".join(line.split())
        line = re.sub(r" ([,.;:!?)\]}])(?= |$)", r"\1", line)  # never joins two words into a host name
        line = re.sub(r"([(\[{]) ", r"\1", line)
        line = line.strip(" -\u2013\u2014:;,/|")
        lines.append(line if has_words(line) else "")
    return "\n".join(lines), True


def has_words(text: str) -> bool:
    """Something readable is left (a letter or a digit)."""
    return any(ch.isalnum() for ch in text)


def hosts_in(text: str) -> set[str]:
    """Hosts of the links in `text` ("www." dropped) and domains of its addresses."""
    return {link.host for link in links_in(text) if link.host}


def addresses_in(text: str) -> set[str]:
    return {link.text.lower() for link in links_in(text) if link.kind == "address"}


# Bounded quantifiers throughout: a hostile reply must not cost more than linear time to check.
_MD_IMAGE = re.compile(r"!\[[^\]\n]{0,300}\]\(")
_MD_LINK = re.compile(r"\[[^\]\n]{1,300}\]\(\s{0,5}[^)\s]")
_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9\-]*(?:\s[^<>]*)?/?>|<!--")
_RECIPIENT_LINE = re.compile(r"(?im)^\s*(?:to|cc|bcc|reply-to|from)\s*:")
_DATA_URI = re.compile(r"\bdata:[a-z]+/[a-z0-9.+\-]+[;,]", re.IGNORECASE)
_ATTACHMENT_WORDS = re.compile(r"\b(?:attached|attachment|enclosed)\b", re.IGNORECASE)

_NUMBER = re.compile(r"\d+(?:[.,:/\-]\d+)*")
_MONTHS = (
    "january february march april may june july august september october november december".split()
)
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_MONTH_OR_DAY = re.compile(r"\b(" + "|".join(_MONTHS + _WEEKDAYS) + r")\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_][\w'\-]*")
# A capitalised word not opening a sentence: a name, a company, a product. Sentence openers ("Thank",
# "Please") are skipped, so only words mid-sentence are compared with the input.
_MID_SENTENCE_CAPITAL = re.compile(r"(?<![.!?:\n]\s)(?<![.!?:\n])(?<!^)\b([A-Z][\w'\-]*)", re.MULTILINE)
_COMMON_CAPITALS = {
    "i", "i'm", "i'll", "i've", "i'd", "eu", "uk", "us", "usa", "ip", "euipo", "epo", "wipo", "uspto", "ukipo",
    "mr", "mrs", "ms", "dr", "prof", "ok", "re", "fyi", "ps",
}


def _host_of(url: str) -> str:
    rest = re.sub(r"^[a-z][a-z0-9+.\-]*:(?://)?", "", url, flags=re.IGNORECASE)
    rest = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    rest = rest.rsplit("@", 1)[-1].split(":", 1)[0]
    return rest.lower().rstrip(".")


def _numbers_in(text: str) -> set[str]:
    found: set[str] = set()
    for m in _NUMBER.finditer(text):
        token = m.group(0)
        found.add(token)
        found.update(p.lstrip("0") or "0" for p in re.split(r"[.,:/\-]", token))
    return found


@dataclass
class Sources:
    """What the output may mention.

    Links and addresses only from firm-authored material: the partner's own name and address (whose
    domain is the firm's), and the recipients' addresses, which code chose from the meeting. Record
    text (subjects, names, titles) and excerpts are written outside the firm, so a link or address in
    them never makes the same link acceptable in a draft. Numbers, dates and words come from every
    input (they only highlight, never reject)."""

    addresses: set[str] = field(default_factory=set)  # firm-authored and the code-chosen recipients
    hosts: set[str] = field(default_factory=set)  # the firm's own (from firm-authored text)
    numbers: set[str] = field(default_factory=set)  # from every input text (a highlight, not a gate)
    words: set[str] = field(default_factory=set)  # month and weekday names derivable from the input
    vocabulary: set[str] = field(default_factory=set)  # every word of the input, lower-cased
    forbidden: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls, records: Iterable[str], untrusted: Iterable[str], forbidden: Iterable[str] = (), *,
        firm: Iterable[str] = (), recipients: Iterable[str] = (),
    ) -> Sources:
        firm, recipients = [f for f in firm if f], [r for r in recipients if r]
        all_text = list(records) + list(untrusted) + firm
        own = set().union(*(addresses_in(t) for t in firm)) if firm else set()
        addresses = own | {a for r in recipients for a in addresses_in(r)}
        # The firm's own domain (its partner's address) is a host the firm may link to.
        hosts = set().union(*(hosts_in(t) for t in firm)) if firm else set()
        numbers = set().union(*(_numbers_in(t) for t in all_text)) if all_text else set()
        words = {w.lower() for t in all_text for w in _MONTH_OR_DAY.findall(t)}
        vocabulary = {w.lower() for t in all_text for w in _WORD.findall(t)}
        return cls(addresses, hosts, numbers, words, vocabulary, frozenset(f for f in forbidden if f))


@dataclass
class OutputCheck:
    text: str  # the text after harmless clean-up (invisible characters, markdown emphasis)
    reasons: list[str] = field(default_factory=list)  # any reason rejects the output
    flags: list[str] = field(default_factory=list)  # kept on the draft, do not reject
    highlights: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.reasons


def contains_forbidden(text: str, forbidden: Iterable[str]) -> bool:
    """Case-insensitive, also after removing invisible characters and collapsing whitespace."""
    folded = " ".join(strip_invisible(text)[0].split()).casefold()
    return any(" ".join(f.split()).casefold() in folded for f in forbidden if f and f.strip())


def check_output(text: str, sources: Sources, *, min_len: int, max_len: int, multiline: bool = True) -> OutputCheck:
    """Check one piece of model text (a subject, a body, a talking point)."""
    cleaned, hidden = strip_invisible(text)
    out = OutputCheck(text=cleaned)
    if len(cleaned) > 2 * max_len:
        out.reasons.append("too_long")  # not worth checking further
        return out
    if hidden:
        out.flags.append("hidden_characters")
    if sources.forbidden and contains_forbidden(cleaned, sources.forbidden):
        out.reasons.append("forbidden_output")
    if _MD_IMAGE.search(cleaned) or _DATA_URI.search(cleaned) or re.search(r"<img\b", cleaned, re.I):
        out.reasons.append("remote_content")
    if _HTML_TAG.search(cleaned):
        out.reasons.append("html")
    if _RECIPIENT_LINE.search(cleaned):
        out.reasons.append("recipient_line")
    links = links_in(cleaned)
    if any(link.kind == "phone" or (link.kind == "address" and link.text.lower() not in sources.addresses)
           for link in links):
        out.reasons.append("new_address")
    if any(link.kind in ("url", "ip", "host") and link.host not in sources.hosts for link in links):
        out.reasons.append("new_url")
    if _MD_LINK.search(_MD_IMAGE.sub(" ", cleaned)):
        out.reasons.append("markup")  # a link whose visible text hides where it goes
    if not multiline and "\n" in cleaned.strip():
        out.reasons.append("too_long")
    # Harmless markdown emphasis becomes plain text rather than a rejection.
    cleaned = re.sub(r"(\*\*|__)(.+?)\1", r"\2", cleaned)
    cleaned = re.sub(r"(?m)^\s{0,3}#{1,6}\s+", "", cleaned)
    cleaned = "\n".join(line.rstrip() for line in cleaned.strip().split("\n"))
    out.text = cleaned
    if len(cleaned) < min_len:
        out.reasons.append("too_short")
    if len(cleaned) > max_len:
        out.reasons.append("too_long")
    if _ATTACHMENT_WORDS.search(cleaned):
        out.flags.append("mentions_attachment")
    unsourced = [
        m.group(0)
        for m in _NUMBER.finditer(cleaned)
        if m.group(0) not in sources.numbers
        and not all((p.lstrip("0") or "0") in sources.numbers for p in re.split(r"[.,:/\-]", m.group(0)))
    ]
    unsourced += [w for w in _MONTH_OR_DAY.findall(cleaned) if w.lower() not in sources.words]
    if unsourced:
        out.flags.append("unsourced_figures")
        out.highlights.extend(dict.fromkeys(unsourced))
    names = [
        w for w in _MID_SENTENCE_CAPITAL.findall(cleaned)
        if w.lower() not in sources.vocabulary and w.lower() not in _COMMON_CAPITALS
        and w.lower() not in _MONTHS and w.lower() not in _WEEKDAYS
    ]
    if names:
        out.flags.append("unsourced_names")
        out.highlights.extend(dict.fromkeys(names))
    return out
