"""A person's title and company read from the signature block of one mail they wrote. Pure.

`parse_signature(text, name)` is given the new part of one message (Graph's `uniqueBody`, as
text) in memory and returns only two short facts, or None. Conservative: no detection beats a
false one, because a false "they moved" goes to partners.

How a signature is found: the last line that names the sender (first and last name, maybe with
credentials, "Dr", a sign-off before it or a title after it) within the last lines before quoted
text; then the segments after the name on that line and the next few lines, until a contact line
(phone, address, link, e-mail), a disclaimer or a gap. No name line: nothing (a sign-off with a
first name only, "Best, Jane", says nothing about a title).
- a title is a segment holding a title word ("General Counsel", "Head of IP", "VP Legal",
  "Patent Attorney"...);
- a company is a segment that says it is one: a legal form or a company word at its end ("Acme
  Ltd", "Kestrel Therapeutics"), or "Title at Company", or one of the `known` names (the contact's
  own account, so "Acme" under jane@acme.example is read). A bare word after the title ("London",
  "EMEA") is not taken for a company.
Outsider text stays data: a segment with a link or an address in it is a contact line (never a
title or company), and what is returned is cleaned and stripped of links and addresses the way a
draft's outsider text is (rapport.drafting.safety.outsider_field), and cut short.

`company_key`, `same_company` and `title_key` compare what two reads found (rapport.capture.reads
decides what a change means).
Imports: rapport.text and rapport.drafting.safety only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapport.drafting.safety import links_in, outsider_field
from rapport.text import clean

MAX_TEXT = 32_000  # characters of the mail's new part looked at (a longer mail's signature is not read)
LOOK_BACK = 40  # non-empty lines before the end (or quoted text) a name line is looked for in
AFTER_NAME = 5  # lines after the name line a title or company may be on
FACT_CHARS = 80


@dataclass(frozen=True)
class SignatureFacts:
    title: str = ""
    company: str = ""


# Quoted history or a forwarded mail starts here (uniqueBody usually has none; some clients add it).
_QUOTE = re.compile(
    r"^(>|-{2,}\s*original message|-{2,}\s*forwarded message|_{8,}|from:\s|sent:\s|von:\s|de\s?:\s|"
    r"on .{4,120} wrote:$|am .{4,120} schrieb)", re.IGNORECASE)
_SIGN_OFF = re.compile(
    r"^(best|kind|warm|warmest|many|with)?\s*(regards|wishes|thanks|thank you|rgds|cheers|sincerely|"
    r"yours sincerely|yours faithfully|yours truly|all the best|best|mit freundlichen gr(ü|ue)(ß|ss)en|"
    r"viele gr(ü|ue)(ß|ss)e|beste gr(ü|ue)(ß|ss)e|cordialement|bien cordialement|saludos|un saludo|"
    r"cordiali saluti|distinti saluti|met vriendelijke groet(en)?|med vänlig hälsning)\b[\s,.!]*",
    re.IGNORECASE)
# Words that make a segment a job title (whole words, case ignored).
_TITLE_WORDS = frozenset("""
counsel attorney attorneys lawyer solicitor barrister advocate paralegal legal ip patent patents trademark
trademarks head director manager officer chief president vp svp evp avp partner associate principal founder
co-founder ceo cfo coo cto clo cio cmo cso cipo gc secretary engineer scientist lead specialist adviser advisor
consultant analyst coordinator executive administrator assistant professor researcher examiner agent
in-house general deputy senior junior vice
""".split())
# A segment that is one of these alone is no title ("General", "Senior").
_WEAK_TITLE_WORDS = frozenset({"general", "senior", "junior", "vice", "deputy", "in-house", "legal", "ip", "lead"})
# Legal forms and company words that end a company's name.
_COMPANY_ENDS = frozenset("""
ltd ltd. limited plc llc llp lp inc inc. incorporated corp corp. corporation co co. company gmbh ag se kg kgaa
sa s.a. sas sarl s.a.r.l. sàrl bv b.v. nv n.v. pty oy ab asa a/s aps spa s.p.a. srl s.r.l. kk k.k. ug oü
group holdings holding pharma pharmaceuticals therapeutics biosciences bio biotech technologies technology
labs laboratories industries systems solutions international university institute foundation bank
""".split())
_LEGAL_FORMS = frozenset("""
ltd limited plc llc llp lp inc incorporated corp corporation co company gmbh ag se kg kgaa sa sas sarl bv nv pty
oy ab asa as aps spa srl kk ug
""".split())
_SEPARATORS = re.compile(r"\s+[|•·–—/]\s+|\s+-\s+|\s*\|\s*")
_AT = re.compile(r"\s+(?:at|bei|chez)\s+", re.IGNORECASE)
_DETAIL = re.compile(
    r"(@|https?:|www\.|\.(com|net|org|io|co|uk|de|fr|eu|ch|nl|be|it|es)\b|linkedin|twitter|"
    r"^(t|m|p|f|d|e|w|tel|phone|mobile|mob|cell|fax|direct|office|main|email|e-mail|web|address|"
    r"switchboard)\s*[.:]|\d{3})", re.IGNORECASE)
_DISCLAIMER = re.compile(
    r"^(this (e-?mail|message|communication)|the information|confidential|disclaimer|please consider|"
    r"notice:|privileged|diese (e-?mail|nachricht)|ce message|sent from my|get outlook)", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_][\w'’.-]*", re.UNICODE)


def _words(text: str) -> list[str]:
    return [w.strip(".'’-").casefold() for w in _WORD.findall(text)]


def _name_parts(name: str) -> tuple[str, str] | None:
    words = [w for w in _words(name) if len(w) > 1]
    if len(words) < 2:
        return None  # one word (or none): too weak to find a signature by
    return words[0], words[-1]


def _names_sender(line: str, parts: tuple[str, str]) -> int | None:
    """Where the sender's name ends on this line (a character offset), or None when it does not name them."""
    if len(line) > 120 or _detail(line):
        return None
    first, last = parts
    start = end = None
    for m in _WORD.finditer(line):
        w = m.group(0).strip(".'’-").casefold()
        if w == first and start is None:
            start = m.start()
        elif w == last and start is not None:
            end = m.end()
            break
    if start is None or end is None or len(_words(line[start:end])) > 4:
        return None
    # The name opens the line, after a sign-off or a "Dr" at most: a sentence that names them is no signature.
    head = _SIGN_OFF.sub("", line[:start]).strip(" ,")
    return end if len(_words(head)) <= 2 else None


def _detail(line: str) -> bool:
    """A contact line (phone, address, link, e-mail, social handle): the signature's facts are above it."""
    return bool(_DETAIL.search(line)) or bool(links_in(line))


def _tidy(segment: str) -> str:
    s = " ".join(segment.split()).strip(" ,;:|-–—·•*_~\"'()[]")
    # Outsider text as a draft may hold it: cut, then any link or address left out (never half of one).
    return outsider_field(s, FACT_CHARS)[0].strip(" ,;:|-–—·•") if s else ""


def _is_title(segment: str) -> bool:
    words = _words(segment)
    if not words or len(words) > 8 or any(c.isdigit() for c in segment) or not segment[:1].isupper():
        return False
    strong = [w for w in words if w in _TITLE_WORDS and w not in _WEAK_TITLE_WORDS]
    return bool(strong) or (len(words) >= 2 and sum(w in _TITLE_WORDS for w in words) >= 2)


def _ends_like_company(segment: str) -> bool:
    words = segment.replace(",", " ").split()
    return 2 <= len(words) <= 8 and words[-1].casefold() in _COMPANY_ENDS and words[0][:1].isupper()


def _looks_like_name(segment: str) -> bool:
    return 1 <= len(segment.split()) <= 8 and segment[:1].isalnum() and not any(c in segment for c in "!?:;")


def _segments(line: str) -> list[str]:
    return [s for s in (_tidy(p) for p in _SEPARATORS.split(line)) if s]


def _lines(text: str) -> list[str]:
    lines: list[str] = []
    for raw in clean(text[:MAX_TEXT]).splitlines():
        line = raw.strip().lstrip("-–—*•").strip()
        if _QUOTE.match(line):
            break
        lines.append(line)
    return lines


def parse_signature(text: str, name: str, known: tuple[str, ...] = ()) -> SignatureFacts | None:
    """The title and company in the signature of `text` written by `name`, or None. `known`: company
    names that need no legal form to be taken for one (the contact's own account)."""
    if not isinstance(text, str) or not text or not isinstance(name, str):
        return None
    parts = _name_parts(name)
    if parts is None:
        return None
    lines = _lines(text)
    known_keys = {company_key(k) for k in known if company_key(k)}
    # From the end: the last line naming the sender that a title or company follows.
    seen = 0
    for i in range(len(lines) - 1, -1, -1):
        if not lines[i]:
            continue
        seen += 1
        if seen > LOOK_BACK:
            break
        end = _names_sender(lines[i], parts)
        if end is None:
            continue
        facts = _read_after(lines[i][end:], lines[i + 1:], known_keys)
        if facts is not None:
            return facts
    return None


def _read_after(rest: str, following: list[str], known_keys: set[str]) -> SignatureFacts | None:
    title = company = ""
    candidates: list[str] = []
    candidates += _segments(rest.lstrip(" ,"))  # "Jane Doe, General Counsel" / "Jane Doe | Acme Ltd"
    gaps = 0
    for line in following[:AFTER_NAME + 1]:
        if not line:
            gaps += 1
            if gaps > 1 or (title and company):
                break
            continue
        if _detail(line) or _DISCLAIMER.match(line) or len(line) > 100 or _SIGN_OFF.fullmatch(line):
            break
        candidates += _segments(line)
    for seg in candidates:
        left, at, right = _split_at(seg)
        if at and _is_title(left) and _looks_like_name(right):
            title = title or _tidy(left)
            company = company or _tidy(right)
            continue
        if "," in seg:  # "Head of IP, Acme Ltd": a title, then a company that says it is one
            head, _, tail = seg.partition(",")
            if _is_title(head) and _ends_like_company(tail.strip()):
                title = title or _tidy(head)
                company = company or _tidy(tail)
                continue
        if _ends_like_company(seg) or (company_key(seg) in known_keys and _looks_like_name(seg)):
            company = company or _tidy(seg)
            continue
        if _is_title(seg):
            title = title or _tidy(seg)
    if not title and not company:
        return None
    return SignatureFacts(title=title, company=company)


def _split_at(segment: str) -> tuple[str, bool, str]:
    m = _AT.search(segment)
    if m is None:
        return segment, False, ""
    return segment[:m.start()], True, segment[m.end():]


# --- comparing two reads ------------------------------------------------------------------------


def company_key(name: str) -> str:
    """A company's name for comparison: case, punctuation, "the" and legal forms ignored."""
    words = [w.replace(".", "") for w in clean(name, multiline=False).casefold().replace("&", " and ").split()]
    words = [re.sub(r"[^\w/]", "", w) for w in words]
    words = [w for w in words if w]
    if words[:1] == ["the"]:
        words = words[1:]
    while len(words) > 1 and words[-1].replace("/", "") in _LEGAL_FORMS:
        words.pop()
    return " ".join(words)


def same_company(a: str, b: str) -> bool:
    """Do two names plausibly mean the same company? Equal keys, or one the start of the other
    ("Acme" and "Acme Pharma UK"): when in doubt, the same (a false move is worse than a missed one)."""
    ka, kb = company_key(a).split(), company_key(b).split()
    if not ka or not kb:
        return True
    short, long = (ka, kb) if len(ka) <= len(kb) else (kb, ka)
    return long[:len(short)] == short or "".join(ka) == "".join(kb)


def title_key(title: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", clean(title, multiline=False).casefold().replace("&", " and ")).split())
