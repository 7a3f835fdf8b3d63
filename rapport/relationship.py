"""How well a partner knows a contact: a simple strength from frequency and recency of contact.

Pure: give it the interactions (any order) and `now`; no store, no clock. The figure is meant to
be read at a glance ("strong", "warm", "light", "cold"), not compared to the decimal, so it stays
deliberately simple and explainable:

- frequency: touches in the last year, on a log scale (the 30th mail adds less than the 3rd);
- recency: halves every 60 days since the last touch;
- two-way: one-sided traffic (only inbound, or only outbound mail) counts for much less than an
  exchange. Meetings and calls are two-way by nature; a partner's own note is neither.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from rapport.records import aware

WINDOW = timedelta(days=365)
HALF_LIFE_DAYS = 60.0
SATURATION = 24  # touches a year at which frequency counts as full
ONE_WAY_FACTOR = 0.5

LABELS = ((70, "strong"), (40, "warm"), (15, "light"), (0, "cold"))


class Touching(Protocol):
    """What strength reads of a touch: a Touch, or an Interaction as it is."""

    @property
    def at(self) -> datetime: ...
    @property
    def channel(self) -> str: ...
    @property
    def direction(self) -> str: ...


@dataclass(frozen=True)
class Touch:
    """The parts of an interaction strength needs."""

    at: datetime
    channel: str  # email | meeting | call | note
    direction: str  # inbound | outbound | internal


@dataclass(frozen=True)
class Strength:
    score: int  # 0..100
    label: str  # strong | warm | light | cold
    touches: int  # in the last year
    last_touch: datetime | None
    two_way: bool



def label_for(score: int) -> str:
    for floor, name in LABELS:
        if score >= floor:
            return name
    return "cold"


def strength(touches: Iterable[Touching], now: datetime) -> Strength:
    now = aware(now)
    recent: list[Touching] = []
    last: datetime | None = None
    for t in touches:
        at = t.at if t.at.tzinfo is not None else t.at.replace(tzinfo=UTC)
        if at > now:  # a future meeting is not contact yet
            continue
        if t.channel != "note" and (last is None or at > last):
            last = at
        if now - at <= WINDOW and t.channel != "note":
            recent.append(t)
    if not recent or last is None:
        return Strength(0, "cold", 0, last, False)
    inbound = any(t.channel == "email" and t.direction == "inbound" for t in recent)
    outbound = any(t.channel == "email" and t.direction == "outbound" for t in recent)
    live = any(t.channel in ("meeting", "call") for t in recent)
    two_way = live or (inbound and outbound)
    frequency = min(1.0, math.log1p(len(recent)) / math.log1p(SATURATION))
    days = max(0.0, (now - last).total_seconds() / 86400)
    recency = 0.5 ** (days / HALF_LIFE_DAYS)
    raw = (0.5 * frequency + 0.5 * recency) * (1.0 if two_way else ONE_WAY_FACTOR)
    score = max(0, min(100, round(100 * raw)))
    return Strength(score, label_for(score), len(recent), last, two_way)
