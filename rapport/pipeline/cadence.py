"""The five-touch cadence after a proposal, pure: which step is due for an enquiry now.

Touch N is due `cadenceDays[N-1]` days after the proposal (TenantSettings.cadenceDays, default
3, 7, 14, 30, 60). A reply from the prospect (seen by capture, rapport.pipeline.mail) pauses the
cadence; once every touch is drafted and the last has waited ASK_AFTER without an answer, the owner
is asked to close the enquiry as lost or keep it open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from rapport.records import Enquiry, aware

DEFAULT_DAYS = (3, 7, 14, 30, 60)
ASK_AFTER = timedelta(days=7)


@dataclass(frozen=True)
class Step:
    kind: str  # "none" | "touch" | "ask"
    n: int = 0
    due: datetime | None = None


def days_of(cadence_days: list[int] | tuple[int, ...]) -> list[int]:
    good = sorted({int(d) for d in cadence_days if isinstance(d, int) and 0 < d <= 3650})
    return good or list(DEFAULT_DAYS)


def next_step(e: Enquiry, cadence_days: list[int] | tuple[int, ...], now: datetime) -> Step:
    if not e.cadence_active or e.proposalAt is None:
        return Step("none")
    days = days_of(cadence_days)
    base = aware(e.proposalAt)
    done = {t.n for t in e.touches}
    n = len(done) + 1
    if n <= len(days):
        due = base + timedelta(days=days[n - 1])
        return Step("touch", n, due) if now >= due else Step("none", n, due)
    last = max((aware(t.at) for t in e.touches), default=base)
    due = last + ASK_AFTER
    return Step("ask", n, due) if now >= due else Step("none", n, due)


__all__ = ["ASK_AFTER", "DEFAULT_DAYS", "Step", "days_of", "next_step"]
