"""Text and name heuristics of capture: who an address is (free mail, automated, the firm's own),
how a display name is cleaned and which of two is better, an account's first name, an excerpt.

Pure functions over strings (no store, no clock, no Graph). `is_internal` is THE rule for "is this
address's domain the firm's own" (a domain of the firm or a subdomain of one).
Imports: rapport.records, rapport.text only.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

from rapport.records import Suppression, Tenant
from rapport.text import clean, cut

EXCERPT_CHARS = 200

# Consumer mail domains: a person writing from one of these is a contact, but the domain is never
# an account (it says nothing about whom they work for). Families with many country TLDs are matched
# on their first label (yahoo.*, gmx.* ...).
FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "passport.com",
    "icloud.com", "me.com", "mac.com", "aol.com", "ymail.com", "rocketmail.com", "proton.me",
    "protonmail.com", "protonmail.ch", "pm.me", "tutanota.com", "tuta.io", "fastmail.com", "zoho.com",
    "mail.com", "gmx.net", "web.de", "t-online.de", "freenet.de", "orange.fr", "wanadoo.fr", "free.fr",
    "laposte.net", "sfr.fr", "libero.it", "virgilio.it", "tiscali.it", "alice.it", "btinternet.com",
    "sky.com", "virginmedia.com", "ntlworld.com", "talktalk.net", "comcast.net", "verizon.net",
    "att.net", "sbcglobal.net", "cox.net", "bigpond.com", "optusnet.com.au", "shaw.ca", "rogers.com",
    "sympatico.ca", "qq.com", "163.com", "126.com", "yeah.net", "sina.com", "sohu.com", "aliyun.com",
    "foxmail.com", "naver.com", "daum.net", "hanmail.net", "nate.com", "rediffmail.com", "seznam.cz",
    "wp.pl", "o2.pl", "interia.pl", "onet.pl", "mail.ru", "bk.ru", "inbox.ru", "list.ru", "rambler.ru",
    "yandex.com", "ukr.net", "abv.bg", "ziggo.nl", "kpnmail.nl", "telenet.be", "skynet.be",
    "bluewin.ch", "hispeed.ch", "uol.com.br", "bol.com.br", "terra.com.br", "docomo.ne.jp",
    "ezweb.ne.jp", "nifty.com",
})
FREE_MAIL_FAMILIES = frozenset({"yahoo", "gmx", "hotmail", "outlook", "live", "yandex", "aol", "icloud"})


_TAG = re.compile(r"<[^>]*>")
_HIDDEN = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


def is_free_mail(domain: str) -> bool:
    d = domain.lower()
    return d in FREE_MAIL_DOMAINS or d.split(".", 1)[0] in FREE_MAIL_FAMILIES


@lru_cache(maxsize=256)
def _domain_set(domains: tuple[str, ...]) -> frozenset[str]:
    return frozenset(d.strip().lower() for d in domains)


_AUTOMATED = re.compile(
    r"^(no-?reply|do-?not-?reply|mailer-daemon|postmaster|bounces?|notifications?|alerts?|calendar-notification)"
    r"([+._-].*)?$"
)



def is_automated(email: str) -> bool:
    """Machine senders (no-reply, bounces, notifications) are nobody to have a relationship with."""
    return bool(_AUTOMATED.match(email.partition("@")[0]))


def is_suppressed(email: str, firm_id: str, suppressed: frozenset[str]) -> bool:
    """THE rule for "the firm erased this person, never capture them again" (`rapport contact
    forget` writes a Suppression keyed by the hash of the normalized address; capture reads the
    firm's set of them once a round and drops every address found in it: not a contact, not a
    participant, not an attendee)."""
    if not suppressed:
        return False
    try:
        return Suppression.id_for(firm_id, email) in suppressed
    except ValueError:
        return False


def is_internal(domain: str, firm: Tenant) -> bool:
    """The firm's own domains and their subdomains are internal (case and stray spaces ignored).
    THE rule for "is this address the firm's own": capture and follow-up recipients both ask here."""
    return is_own_domain(domain, tuple(firm.domains))


def is_own_domain(domain: str, own_domains: tuple[str, ...]) -> bool:
    """`is_internal` over a tuple of domains (hashable, so callers may cache on it)."""
    own = _domain_set(own_domains)
    d = domain.lower()
    while True:  # "mail.firm.example" -> "firm.example" -> "example"
        if d in own:
            return True
        _, dot, d = d.partition(".")
        if not dot:
            return False


def clean_text(text: str | None) -> str:
    """One line of text as people should see it: Rapport's text rule (rapport.text.clean: no lone
    surrogate, control, bidi or zero-width character), whitespace collapsed. Not a str -> ""."""
    t = clean(text, multiline=False)
    if t.isprintable() and "  " not in t and t[:1] != " " and t[-1:] != " ":
        return t  # the common case, without splitting and joining
    return " ".join(t.split())


def clean_name(name: str | None) -> str:
    return _clean_name(name) if isinstance(name, str) and name else ""


@lru_cache(maxsize=65536)  # a mailbox shows the same few thousand names over and over
def _clean_name(name: str) -> str:
    n = clean_text(name).strip("'\"").strip()
    if n.count(",") == 1 and "@" not in n:
        last, first = (p.strip() for p in n.split(","))
        if first and last and " " not in last:  # "Doe, Jane" -> "Jane Doe"; leave "Acme, Inc" alone-ish
            n = f"{first} {last}"
    return n


@lru_cache(maxsize=65536)
def name_rank(name: str, email: str = "") -> tuple[int, int, int, str]:
    """How good a display name is; `better_name` keeps the highest. A total order, so the winner
    does not depend on the order names were seen in.

    0 empty; 1 address-like (has '@' or is the address' local part); 2 one word; 3 has an
    initial-only word ("J. Doe"); 4 a full name. Then: properly cased beats ALL CAPS/all lower,
    longer beats shorter, and the text itself breaks the last tie.
    """
    n = clean_name(name)
    if not n:
        return (0, 0, 0, "")
    local = email.partition("@")[0].lower()
    if "@" in n or (local and n.lower() == local) or n.lower() == email.lower():
        quality = 1
    else:
        words = [w.strip(".,") for w in n.split()]
        words = [w for w in words if w]
        if len(words) < 2:
            quality = 2
        elif any(len(w) == 1 for w in words):
            quality = 3
        else:
            quality = 4
    cased = 0 if (n.isupper() or n.islower()) else 1
    return (quality, cased, len(n), n)


def better_name(current: str, candidate: str, email: str = "") -> str:
    """The better of two display names for one address: never degrades a good name."""
    if current == candidate:
        return clean_name(current)
    a, b = clean_name(current), clean_name(candidate)
    return b if name_rank(b, email) > name_rank(a, email) else a


def account_name_from_domain(domain: str) -> str:
    """A first name for an account before anyone names it: "kestrel-bio.co.uk" -> "Kestrel Bio"."""
    labels = domain.lower().split(".")
    # Skip second-level public suffixes such as co.uk, com.au, co.jp.
    core = labels[-3] if len(labels) >= 3 and labels[-2] in {"co", "com", "ac", "or", "ne", "org", "gv"} else (
        labels[-2] if len(labels) >= 2 else labels[0]
    )
    return " ".join(p.capitalize() for p in re.split(r"[-_]", core) if p) or domain


def excerpt_of(text: str | None) -> str | None:
    """A short plain-text excerpt: HTML stripped, invisible characters removed, whitespace collapsed."""
    if not text:
        return None
    t = _HIDDEN.sub(" ", text)
    t = html.unescape(_TAG.sub(" ", t))
    t = clean_text(t)
    return cut(t, EXCERPT_CHARS) or None
