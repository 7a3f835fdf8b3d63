"""The table behind the reports, the managing partner's Monday report and CSV, from roll-ups.

Everything here reads WeekStats (counts) and the people list only: a report can name a partner and
count their records, never a contact, account, subject or address (docs/metrics.md, "Privacy").
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

from rapport import timezones
from rapport.metrics import definitions as d
from rapport.records import Person, WeekStats

REPORT_WEEKS = 12
SLOW_FOLLOWUP_HOURS = 48.0  # a median follow-up slower than this is an exception worth a conversation
MANY_WITHOUT = 3  # meetings without a follow-up in the week
CONCENTRATED = 0.6  # top-three share of new enquiries above which origination counts as concentrated

COLUMNS = ("week", "partner", "approved_actions", "followup_median_h", "followup_p90_h", "meetings",
           "meetings_without_followup", "counsel_moves", "counsel_contacted_7d", "counsel_contacted_30d",
           "new_relationships", "cold_relationships", "enquiries", "enquiries_on_time", "enquiries_late",
           "enquiries_unanswered", "opportunities", "instructions", "pipeline")

# One CSV per metric (the page's downloads): its name -> the columns it holds after week and partner.
METRICS = {
    "approved_actions": ("approved_actions",),
    "time_to_followup": ("followup_median_h", "followup_p90_h", "meetings"),
    "meetings_without_followup": ("meetings", "meetings_without_followup"),
    "counsel_moves": ("counsel_moves", "counsel_contacted_7d", "counsel_contacted_30d"),
    "new_relationships": ("new_relationships",),
    "cold_relationships": ("cold_relationships",),
    "enquiry_response": ("enquiries", "enquiries_on_time", "enquiries_late", "enquiries_unanswered"),
    "pipeline": ("opportunities", "instructions", "pipeline"),
}


def row(s: WeekStats, name: str) -> dict[str, Any]:
    """One partner-week as the table's row."""
    return {
        "week": s.week, "partner": name, "approved_actions": s.approved,
        "followup_median_h": d.percentile(s.followupHours, 50), "followup_p90_h": d.percentile(s.followupHours, 90),
        "meetings": s.meetings, "meetings_without_followup": s.withoutFollowup,
        "counsel_moves": s.counselSurfaced, "counsel_contacted_7d": s.counselContacted7,
        "counsel_contacted_30d": s.counselContacted30, "new_relationships": s.newRelationships,
        "cold_relationships": s.cold, "enquiries": s.enquiries, "enquiries_on_time": s.enquiriesOnTime,
        "enquiries_late": s.enquiriesLate, "enquiries_unanswered": s.enquiriesUnanswered,
        "opportunities": s.opportunities, "instructions": s.instructions,
        "pipeline": ";".join(f"{k}={v}" for k, v in sorted(s.pipeline.items())),
    }


def table(stats: list[WeekStats], people: dict[str, Person]) -> list[dict[str, Any]]:
    """One row per partner and week, by week then partner name."""
    rows = [row(s, people[s.partnerOid].name if s.partnerOid in people else "(former partner)") for s in stats]
    return sorted(rows, key=lambda r: (r["week"], r["partner"].lower()))


def _safe_cell(value: Any) -> Any:
    # A partner's name is firm data, but a spreadsheet would run a cell starting with = + - @ as a formula.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def to_csv(rows: list[dict[str, Any]], columns: tuple[str, ...] = COLUMNS) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_safe_cell(r.get(c)) for c in columns])
    return out.getvalue()


def metric_csv(rows: list[dict[str, Any]], metric: str) -> str:
    """The CSV of one metric (METRICS): week, partner and that metric's columns."""
    return to_csv(rows, ("week", "partner", *METRICS[metric]))


def report_weeks(now: datetime, viewer: Person | None, weeks: int = REPORT_WEEKS) -> list[str]:
    """The Mondays of the `weeks` complete weeks before the one holding `now` in the viewer's zone."""
    zone = timezones.zone(viewer.timeZone if viewer else "")
    this = d.week_of(now, zone)
    return [(this - timedelta(weeks=i)).isoformat() for i in range(weeks, 0, -1)]


def _sum(stats: list[WeekStats], attr: str) -> int:
    return sum(getattr(s, attr) for s in stats)


def latest_snapshots(stats: list[WeekStats]) -> dict[str, WeekStats]:
    """Per partner, the newest roll-up holding a snapshot (cold, pipeline: taken while its week was current)."""
    out: dict[str, WeekStats] = {}
    for s in sorted(stats, key=lambda x: x.week):
        if s.pipeline or s.cold or s.coldIds:
            out[s.partnerOid] = s
    return out


def firm_report(stats: list[WeekStats], people: dict[str, Person], weeks: list[str],
                snapshots: dict[str, WeekStats] | None = None) -> dict[str, Any]:
    """The managing partner's Monday report: firm trends over `weeks`, one row per partner, the
    pipeline by stage (and relationships going cold) as of the newest snapshot, origination
    diversity and the exceptions worth a conversation."""
    snapshots = latest_snapshots(stats) if snapshots is None else snapshots
    by_week: dict[str, list[WeekStats]] = {w: [] for w in weeks}
    by_partner: dict[str, dict[str, WeekStats]] = {}
    for s in stats:
        if s.week in by_week:
            by_week[s.week].append(s)
            by_partner.setdefault(s.partnerOid, {})[s.week] = s
    trend = []
    for w in weeks:
        group = by_week[w]
        hours = [h for s in group for h in s.followupHours]
        trend.append({"week": w, "approved": _sum(group, "approved"),
                      "followupMedian": d.percentile(hours, 50), "followupP90": d.percentile(hours, 90),
                      "meetings": _sum(group, "meetings"), "withoutFollowup": _sum(group, "withoutFollowup"),
                      "newRelationships": _sum(group, "newRelationships"),
                      "counselSurfaced": _sum(group, "counselSurfaced"),
                      "counselContacted30": _sum(group, "counselContacted30"),
                      "enquiries": _sum(group, "enquiries"), "enquiriesOnTime": _sum(group, "enquiriesOnTime")})
    last = weeks[-1] if weeks else ""
    rows = []
    for oid, mine in by_partner.items():
        person = people.get(oid)
        series = [mine[w].approved if w in mine else 0 for w in weeks]
        hours = [h for s in mine.values() for h in s.followupHours]
        latest = mine.get(last)
        prior = series[-5:-1]
        rows.append({
            "oid": oid, "name": person.name if person else "(former partner)",
            "left": bool(person is None or not person.enabled),
            "approved": series[-1] if series else 0,
            "approvedPrior4": round(sum(prior) / len(prior), 1) if prior else 0.0,
            "approvedSeries": series,
            "followupMedian": d.percentile(hours, 50), "followupP90": d.percentile(hours, 90),
            "withoutFollowup": latest.withoutFollowup if latest else 0,
            "cold": snapshots[oid].cold if oid in snapshots else 0,
            "newRelationships": sum(s.newRelationships for s in mine.values()),
            "counselSurfaced": sum(s.counselSurfaced for s in mine.values()),
            "counselContacted30": sum(s.counselContacted30 for s in mine.values()),
            "enquiries": sum(s.enquiries for s in mine.values()),
            "enquiriesOnTime": sum(s.enquiriesOnTime for s in mine.values()),
            "opportunities": sum(s.opportunities for s in mine.values()),
            "instructions": sum(s.instructions for s in mine.values()),
        })
    rows.sort(key=lambda r: (r["left"], r["name"].lower()))
    pipeline: dict[str, int] = {}
    for s in snapshots.values():
        for stage, n in s.pipeline.items():
            pipeline[stage] = pipeline.get(stage, 0) + n
    origination = {
        kind: _origination(rows, kind, people) for kind in ("enquiries", "opportunities", "instructions")
    }
    return {"weeks": weeks, "trend": trend, "partners": rows, "pipeline": pipeline,
            "origination": origination, "exceptions": exceptions(rows, origination)}


def _origination(rows: list[dict[str, Any]], kind: str, people: dict[str, Person]) -> dict[str, Any]:
    o = d.origination((r["oid"], r[kind]) for r in rows)
    names = {r["oid"]: r["name"] for r in rows}
    return {"total": o["total"], "hhi": None if o["hhi"] is None else round(o["hhi"], 3),
            "top3": None if o["top3"] is None else round(o["top3"], 3),
            "shares": sorted(({"name": names[k], "share": round(v, 3)} for k, v in o["shares"].items() if v),
                             key=lambda x: -x["share"])}


def exceptions(rows: list[dict[str, Any]], origination: dict[str, Any]) -> list[str]:
    """The few things worth a conversation, in words (partner names and counts only)."""
    out = []
    for r in rows:
        if r["left"]:
            continue
        if r["withoutFollowup"] >= MANY_WITHOUT:
            out.append(f"{r['name']}: {r['withoutFollowup']} meetings last week without a follow-up")
        if r["followupMedian"] is not None and r["followupMedian"] > SLOW_FOLLOWUP_HOURS:
            out.append(f"{r['name']}: follow-ups take {r['followupMedian']:.0f} h (median)")
        if r["approvedSeries"][-2:] == [0, 0] and any(r["approvedSeries"]):
            out.append(f"{r['name']}: no approved BD action for two weeks")
        if r["counselSurfaced"] and not r["counselContacted30"]:
            out.append(f"{r['name']}: {r['counselSurfaced']} counsel moves, none contacted")
    top3 = origination["enquiries"]["top3"]
    if top3 is not None and top3 > CONCENTRATED and len(rows) > 3:
        out.append(f"Origination is concentrated: three partners hold {top3:.0%} of new enquiries")
    return out


def own_trend(stats: list[WeekStats], oid: str, this_week: str) -> tuple[int, float]:
    """(approved actions in `this_week`, their average over the four weeks before) for one partner."""
    mine = {s.week: s for s in stats if s.partnerOid == oid}
    monday = date.fromisoformat(this_week)
    now_n = mine[this_week].approved if this_week in mine else 0
    prior = [mine[w].approved if w in mine else 0
             for w in ((monday - timedelta(weeks=i)).isoformat() for i in range(1, 5))]
    return now_n, round(sum(prior) / 4, 1)
