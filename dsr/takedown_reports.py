"""What the takedown desk shows of itself: the evidence pack of one request (a PDF) and the figures for a period
(received, valid, removed, median and 95th-percentile hours to removal, copies found, re-uploads blocked)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from dsr import hour_clocks, pdf, takedown_intake, takedowns
from dsr.models import DataItem, Event, OutboundMessage
from dsr.models.takedowns import ReuploadBlock, Takedown, TakedownItem

PLATFORM_MADE = frozenset({"generated_video", "thumbnail", "face_embedding"})


# --- the evidence pack ------------------------------------------------------------------------------------------


def evidence_context(td: Takedown, *, now: datetime) -> dict[str, Any]:
    """Everything takedown.md "Evidence to keep" lists, for one request: receipt, the four elements as received,
    the validity decision, the clocks and the margin, what was removed and when, copies with their hashes, the
    block list, re-uploads refused, notices both ways, complaints, the audit events (ids only)."""
    zone = takedowns.operator_zone()
    items = list(td.items.order_by("created_at", "id"))
    made_here = {i.item_id for i in items if i.category in PLATFORM_MADE}
    notices = []
    for n in td.notices.select_related("message").order_by("created_at"):
        msg: OutboundMessage | None = n.message
        notices.append({"kind": n.get_kind_display(), "party": n.party, "queued_at": n.created_at,
                        "sent_at": msg.sent_at if msg else None, "subject_line": msg.subject_line if msg else "",
                        "body": msg.body_text if msg else ""})
    events = list(Event.objects.filter(object_type="takedown", object_id=str(td.pk)).order_by("id"))
    run_ids = [str(r.run_id) for r in td.removals.all() if r.run_id] + [
        str(r.erasure_run_id) for r in td.removals.all() if r.erasure_run_id]
    run_events = list(Event.objects.filter(object_type="run", object_id__in=run_ids).order_by("id"))
    governing = next((c for c in takedowns.clocks_view(td) if c.get("governing")), None)
    met = [c for c in td.clocks.filter(superseded_at__isnull=True, met_at__isnull=False)]
    margin = None
    if met:
        first = min(met, key=lambda c: c.due_at)
        margin = {"regime": first.regime, "due_at": first.due_at, "met_at": first.met_at,
                  "text": hour_clocks.describe_margin(hour_clocks.margin(first.due_at, first.met_at))}
    return {
        "td": td, "now": now, "zone": zone,
        "received_local": takedowns.shown(td.received_at, zone),
        "valid_local": takedowns.shown(td.valid_at, zone) if td.valid_at else None,
        "missing": takedown_intake.missing_elements(td) if td.state == "incomplete" else [],
        "clocks": takedowns.clocks_view(td), "governing": governing, "margin": margin,
        "items": items, "removed": [i for i in items if i.state == TakedownItem.State.REMOVED],
        "copies": [i for i in items if i.role == TakedownItem.Role.COPY], "made_here": made_here,
        "blocked_hashes": list(td.blocked_hashes.order_by("item_id", "at_ms")),
        "reuploads": list(td.reupload_blocks.order_by("at")),
        "notices": notices, "complaints": list(td.complaints.order_by("opened_at")),
        "events": events, "run_events": run_events, "removals": list(td.removals.order_by("batch")),
        "erasure_case": td.erasure_case, "controller_name": settings.DSR_CONTROLLER_NAME,
        "still_held": DataItem.objects.live().filter(pk__in=[i.item_id for i in items
                                                             if i.state == TakedownItem.State.REMOVED]).count(),
    }


def evidence_pdf(td: Takedown, *, now: datetime) -> bytes:
    return pdf.render_pdf("pdf/takedown_evidence.html", evidence_context(td, now=now))


# --- figures for a period ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    start: datetime
    end: datetime
    received: int
    complete: int
    valid: int
    refused: int
    removed: int
    intimate: int
    minors: int
    median_hours: float | None
    p95_hours: float | None
    removed_late: int
    copies_found: int
    copies_removed: int
    reuploads_blocked: int

    def rows(self) -> list[tuple[str, str]]:
        def hours(v: float | None) -> str:
            return "" if v is None else f"{v:.2f}"

        return [
            ("period_start_utc", self.start.isoformat()), ("period_end_utc", self.end.isoformat()),
            ("received", str(self.received)), ("complete", str(self.complete)), ("valid", str(self.valid)),
            ("refused", str(self.refused)), ("removed", str(self.removed)), ("intimate", str(self.intimate)),
            ("possible_minor", str(self.minors)), ("median_hours_to_removal", hours(self.median_hours)),
            ("p95_hours_to_removal", hours(self.p95_hours)), ("removed_after_deadline", str(self.removed_late)),
            ("copies_found", str(self.copies_found)), ("copies_removed", str(self.copies_removed)),
            ("reuploads_blocked", str(self.reuploads_blocked)),
        ]


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (the value at rank ceil(q·n)): one of the observed values, never interpolated."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def metrics(start: datetime, end: datetime) -> Metrics:
    """Requests received in [start, end): how many became complete, were decided valid or refused, were removed;
    hours from validity (the clock's start) to removal; copies found by hash and removed; and re-uploads refused
    in the period (whenever their request was received)."""
    qs = Takedown.objects.filter(received_at__gte=start, received_at__lt=end)
    rows = list(qs.values("pk", "valid_at", "removed_at", "decision_valid", "decision_intimate", "state",
                          "minor_suspected"))
    hours = [hour_clocks.hours_between(r["valid_at"], r["removed_at"]) for r in rows
             if r["valid_at"] and r["removed_at"]]
    late = 0
    for td in qs.filter(removed_at__isnull=False):
        clocks = list(td.clocks.filter(superseded_at__isnull=True))
        if clocks and td.removed_at > min(c.due_at for c in clocks):
            late += 1
    copies = TakedownItem.objects.filter(takedown__in=qs, role=TakedownItem.Role.COPY)
    return Metrics(
        start=start, end=end, received=len(rows), complete=sum(1 for r in rows if r["valid_at"]),
        valid=sum(1 for r in rows if r["decision_valid"] is True),
        refused=sum(1 for r in rows if r["decision_valid"] is False),
        removed=sum(1 for r in rows if r["removed_at"]),
        intimate=sum(1 for r in rows if r["decision_intimate"] is True),
        minors=sum(1 for r in rows if r["minor_suspected"]),
        median_hours=statistics.median(hours) if hours else None, p95_hours=percentile(hours, 0.95),
        removed_late=late, copies_found=copies.count(),
        copies_removed=copies.filter(state=TakedownItem.State.REMOVED).count(),
        reuploads_blocked=ReuploadBlock.objects.filter(at__gte=start, at__lt=end).count(),
    )
