"""Non-delivery reports: recognising one from its metadata, and reading which address bounced. Pure.

- `is_report(subject, sender)`: the test on a mail's metadata (capture tests the subject first,
  `is_report_subject`, the cheap half). A report comes from a system address (postmaster, mailer-daemon, Exchange's
  MicrosoftExchange<32 hex>) with a subject such as "Undeliverable: ...", "Delivery has failed",
  "Mail delivery failed", "Undelivered Mail Returned to Sender". A delay notice is not one.
- `bounced_addresses(text)`: the addresses a report's text says do not exist, from the forms the
  big servers write: Exchange ("Your message to X couldn't be delivered", "Delivery has failed to
  these recipients or groups: X"), Exim ("The following address(es) failed: X"), Postfix and
  Sendmail ("<x@y>: ... 550 5.1.1 ... User unknown"), Gmail ("wasn't delivered to X because the
  address couldn't be found"), DSN fields ("Final-Recipient: rfc822; X" with a 5.1.x status).
  Only a report whose reason is "no such recipient" counts (5.1.1, "user unknown", "wasn't found",
  "does not exist", a disabled mailbox...); a full mailbox, a message too large, spam blocks and
  delays are not a sign that someone left, so such a report gives nothing.
- `authoritative(sender, address, own_domains)`: whether a report from `sender` may speak for
  `address`: the firm's own mail system, or the address's own domain (its postmaster). A report
  anyone else sends is ignored (a forged bounce must not tell partners a client left).

Imports: rapport.text and rapport.capture.names only.
"""

from __future__ import annotations

import re

from rapport.capture.names import is_own_domain
from rapport.text import clean

MAX_TEXT = 20_000
MAX_ADDRESSES = 10

SUBJECT_PREFIXES = (
    "undeliverable:", "undelivered mail returned to sender", "undelivered mail", "mail delivery failed",
    "delivery has failed", "delivery status notification (failure)", "returned mail:", "failure notice",
    "mail delivery failure", "message not delivered", "non-delivery", "nondeliverable", "unzustellbar:",
    "non remis", "non recapitabile", "onbestelbaar:", "no se puede entregar:", "impossible de remettre",
)
_SYSTEM_SENDER = re.compile(r"^(postmaster|mailer-daemon|mailerdaemon|mail-daemon|microsoftexchange[0-9a-f]{32})$")

_ADDRESS = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
_ANY_ADDRESS = re.compile(_ADDRESS)
# Where a report names the recipient that failed (each pattern's group 1 is the address, or the
# start of the list of them).
_NAMED = [
    re.compile(rf"your message to\s+<?({_ADDRESS})>?\s+couldn[’']?t be delivered", re.IGNORECASE),
    re.compile(rf"wasn[’']?t delivered to\s+<?({_ADDRESS})>?", re.IGNORECASE),
    re.compile(rf"<({_ADDRESS})>\s*:?\s*(?:host\s[^\n]{{0,200}}?said:\s*)?5\d\d\b", re.IGNORECASE),
    re.compile(rf"final-recipient:\s*rfc822;\s*<?({_ADDRESS})>?", re.IGNORECASE),
    re.compile(rf"(?:to|for)\s+<?({_ADDRESS})>?\s*[:,]?\s*(?:user unknown|unknown user|no such user|"
               r"recipient (?:address )?rejected|mailbox unavailable)", re.IGNORECASE),
]
# Lists: the addresses on the few lines after these words.
_LISTS = re.compile(r"(delivery has failed to these recipients or groups:|the following address(?:\(es\)|es)? failed:|"
                    r"could not be delivered to one or more of its recipients[^\n]*:|"
                    r"following recipients? (?:could not|couldn[’']?t) be reached:)", re.IGNORECASE)
_LIST_LINES = 6

_UNKNOWN = re.compile(
    r"(\b5\.1\.(1|10|6)\b|\b5\.2\.1\b|\b5\.4\.1\b|user unknown|unknown user|no such user|recipient not found|"
    r"recipnotfound|wasn[’']?t found at|was not found|couldn[’']?t be found|could not be found|does not exist|"
    r"doesn[’']?t exist|address rejected|invalid recipient|mailbox unavailable|mailbox not found|"
    r"no mailbox|account (?:has been |is )?disabled|unrouteable address|address not found|"
    r"unknown to address|no longer (?:with|at|works))", re.IGNORECASE)
# Reasons that are not "they are gone": such a report says nothing about a move.
_OTHER = re.compile(
    r"(\b5\.2\.2\b|\b5\.3\.4\b|\b5\.7\.\d+\b|mailbox (?:is )?full|over quota|quota exceeded|too large|"
    r"size limit|delay(?:ed)?\b|will (?:retry|keep trying)|spam|blacklist|blocklist|message expired|temporar)",
    re.IGNORECASE)


def is_report_subject(subject: object) -> bool:
    """Does a subject open the way a non-delivery report's does? (The cheap half, tested first.)"""
    return isinstance(subject, str) and subject.lstrip()[:60].casefold().startswith(SUBJECT_PREFIXES)


def is_system_sender(address: object) -> bool:
    """Is this a mail system's own address (postmaster, mailer-daemon, Exchange's)?"""
    return isinstance(address, str) and bool(_SYSTEM_SENDER.match(address.partition("@")[0].casefold()))


def is_report(subject: object, sender: object) -> bool:
    """Does a mail's metadata say it is a non-delivery report? (`sender`: its address.)"""
    return is_report_subject(subject) and is_system_sender(sender)


def bounced_addresses(text: object) -> list[str]:
    """The addresses the report's text says have no mailbox there (lower case, at most 10), or []
    when its reason is anything else (or it names none)."""
    if not isinstance(text, str) or not text:
        return []
    t = clean(text[:MAX_TEXT])
    if not _UNKNOWN.search(t) or _OTHER.search(t):
        return []
    found: list[str] = []
    for pattern in _NAMED:
        found += [m.group(1) for m in pattern.finditer(t)]
    for m in _LISTS.finditer(t):
        following = t[m.end():].lstrip("\n").split("\n")[:_LIST_LINES]
        for line in following:
            found += _ANY_ADDRESS.findall(line)
    out: list[str] = []
    for a in found:
        a = a.strip(".,;:<>()[]").lower()
        if a and a not in out:
            out.append(a)
    return out[:MAX_ADDRESSES]


def authoritative(sender: str, address: str, own_domains: tuple[str, ...]) -> bool:
    """May a report from `sender` say that `address` does not exist? Yes from the firm's own mail
    system (its domains) or from the address's own domain (or a host under it)."""
    s_domain = sender.rpartition("@")[2].casefold()
    a_domain = address.rpartition("@")[2].casefold()
    if not s_domain or not a_domain:
        return False
    return is_own_domain(s_domain, own_domains) or s_domain == a_domain or s_domain.endswith("." + a_domain)
