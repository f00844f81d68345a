"""Forms of the breach desk console (issue 12 §6). They parse and check what an operator typed; the verbs in
dsr/breaches.py decide and may still refuse (``BreachInputError``), whose messages are put back on the same form
so the page comes back with every error next to its field and nothing changed.

Instants are typed as wall-clock times in the operator's zone (``DSR_OPERATOR_TIME_ZONE``) or in UTC, as the
operator chooses on the form, and stored in UTC. A wall time that does not exist (skipped by a daylight-saving
change) or exists twice (repeated by one) is refused rather than guessed: awareness starts the 72-hour clock
(legal-matrix §1.2, B-SA) and an hour's guess would move the deadline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms

from dsr.breach_notices import IN_DOUBT_DECISIONS
from dsr.models import (
    Breach,
    BreachFiling,
    BreachType,
    DataCategory,
    Exception34,
    FilingPhase,
    Recipient,
    RiskFactor,
    RiskLevel,
)

INSTANT_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
AUTHORITY_RULES = ("B-SA", "UK-BR", "CB-AG", "BR-BR")  # rules whose deadline is met by a filing to an authority


def system_choices() -> list[tuple[str, str]]:
    """The named systems an item can sit in (breachscope's ``SYSTEMS``: a mapping or a sequence)."""
    from dsr import breach_scope

    if hasattr(breach_scope, "system_choices"):  # the fixed stores, then each recipient of the register
        return [(str(k), str(v)) for k, v in breach_scope.system_choices()]
    SYSTEMS = breach_scope.SYSTEMS  # noqa: N806 - breachscope's constant
    if isinstance(SYSTEMS, dict):
        out = []
        for key, value in SYSTEMS.items():
            text = value if isinstance(value, str) else getattr(value, "label", None) or getattr(
                value, "description", None) or key
            out.append((str(key), str(text)))
        return out
    out = []
    for entry in SYSTEMS:
        if isinstance(entry, (tuple, list)):
            out.append((str(entry[0]), str(entry[1] if len(entry) > 1 else entry[0])))
        else:
            key = getattr(entry, "name", None) or getattr(entry, "key", None) or str(entry)
            out.append((str(key), str(getattr(entry, "label", key))))
    return out


def parse_instant(raw: str, zone: str) -> datetime:
    """A typed wall time in ``zone`` → an aware UTC instant; refuses skipped and repeated wall times."""
    raw = (raw or "").strip()
    for fmt in INSTANT_FORMATS:
        try:
            naive = datetime.strptime(raw, fmt)
            break
        except ValueError:
            continue
    else:
        raise forms.ValidationError("Enter a date and time like 2026-03-27 22:30.", code="invalid")
    if not 2000 <= naive.year <= 2100:
        raise forms.ValidationError("Enter a date between 2000 and 2100.", code="invalid")
    tz = ZoneInfo(zone)
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        # zoneinfo resolves both folds of a skipped time too: a round trip tells a gap from a repeat.
        if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
            raise forms.ValidationError(f"{naive:%d %b %Y %H:%M} does not exist in {zone} (the clocks went "
                                        "forward): give the time in UTC.", code="nonexistent")
        raise forms.ValidationError(f"{naive:%d %b %Y %H:%M} happens twice in {zone} (the clocks went back): "
                                    "give the time in UTC.", code="ambiguous")
    return first.astimezone(UTC)


def local_value(at: datetime | None, zone: str) -> str:
    """The value of a datetime-local input for a stored instant, in ``zone``."""
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M") if at else ""


class InstantInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M")


class ErrorsFromVerb:
    """Put a verb's ``BreachInputError.errors`` ({field: message}) back on the form: known fields next to
    the field, the rest at the top."""

    def add_verb_errors(self, errors: dict[str, Any]) -> None:
        for name, message in (errors or {}).items():
            messages = message if isinstance(message, list) else [message]
            target = name if name in self.fields else None  # type: ignore[attr-defined]
            for m in messages:
                self.add_error(target, str(m))  # type: ignore[attr-defined]


INSTANT_FIELDS = ("detected_at", "investigation_started_at", "aware_at", "occurred_from", "occurred_until",
                  "processor_notified_controller_at", "restored_at")
# Form field → the model field it fills, where they differ (the verbs take "jurisdictions").
MODEL_FIELD = {"jurisdictions": "jurisdictions_declared"}
REQUIRED_INSTANTS = ("detected_at", "aware_at")


class BreachFactsForm(ErrorsFromVerb, forms.Form):
    """Open a breach, or edit its facts: every field of the register entry an operator knows (§10.8, §5.2)."""

    title = forms.CharField(max_length=200, help_text="A short name for the incident (no personal data).")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=20000,
                                  help_text="What happened, how it was found, cause and attack vector.")
    types = forms.MultipleChoiceField(choices=BreachType.choices, widget=forms.CheckboxSelectMultiple,
                                      label="Type of breach",
                                      error_messages={"required": "Choose at least one type of breach."})
    categories = forms.MultipleChoiceField(choices=DataCategory.choices, widget=forms.CheckboxSelectMultiple,
                                           label="Data categories affected", required=False)
    systems = forms.MultipleChoiceField(choices=(), widget=forms.CheckboxSelectMultiple, required=False,
                                        label="Systems affected")
    times_in = forms.ChoiceField(label="Times below are in", choices=())
    detected_at = forms.CharField(label="Detected (first anomaly)", widget=InstantInput())
    investigation_started_at = forms.CharField(label="Investigation started", widget=InstantInput(),
                                               required=False)
    aware_at = forms.CharField(label="Aware (reasonable certainty)", widget=InstantInput(),
                               help_text="Starts the 72-hour clock of Art. 33 (B-SA).")
    aware_basis = forms.CharField(label="Awareness rests on", widget=forms.Textarea(attrs={"rows": 2}),
                                  max_length=5000, help_text="The evidence (§5.2).")
    aware_by = forms.CharField(label="Who reached awareness", max_length=200)
    occurred_from = forms.CharField(label="Exposure window from", widget=InstantInput(), required=False)
    occurred_until = forms.CharField(label="Exposure window until", widget=InstantInput(), required=False)
    risk_factors = forms.MultipleChoiceField(choices=RiskFactor.choices, widget=forms.CheckboxSelectMultiple,
                                             required=False, label="Also involved (§5.1)")
    subjects_estimate = forms.IntegerField(min_value=0, max_value=2_000_000_000, required=False,
                                           label="People affected (estimate)",
                                           help_text="Until the scope is computed from the vault.")
    jurisdictions = forms.CharField(max_length=500, required=False, label="Where affected people live",
                                    help_text="ISO 3166 codes, comma-separated (DE, GB, US-CA, BR); the clocks "
                                              "use these with the computed scope.")
    restored_at = forms.CharField(label="Availability restored", widget=InstantInput(), required=False)
    data_encrypted = forms.BooleanField(label="The affected data was encrypted at rest", required=False)
    keys_exposed = forms.BooleanField(label="The keys (or the key ring) were exposed too", required=False)
    processor = forms.ModelChoiceField(queryset=Recipient.objects.filter(role=Recipient.Role.PROCESSOR),
                                       required=False, label="Processor involved (B-PROC)")
    processor_notified_controller_at = forms.CharField(label="Processor informed us", widget=InstantInput(),
                                                       required=False)
    consequences = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=5000,
                                   label="Likely consequences (Art. 33(3)(c))")
    measures = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=5000,
                               label="Measures taken or proposed (Art. 33(3)(d))")
    subject_advice = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=5000,
                                     label="Extra advice to affected people")
    law_enforcement_delay = forms.BooleanField(required=False, label="Law enforcement asked us to delay notices")
    law_enforcement_reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False,
                                             max_length=2000, label="Law enforcement's request")

    def __init__(self, *args: Any, zone: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone
        self.fields["times_in"].choices = [(zone, f"{zone} (operator's zone)")] + (
            [("UTC", "UTC")] if zone != "UTC" else [])
        self.fields["systems"].choices = system_choices()
        if not self.is_bound:
            self.fields["times_in"].initial = zone
        self.fields["processor"].widget.attrs["aria-describedby"] = ""

    @classmethod
    def for_breach(cls, breach: Breach, *, zone: str) -> BreachFactsForm:
        initial: dict[str, Any] = {name: getattr(breach, name) for name in (
            "title", "description", "types", "categories", "systems", "aware_basis", "aware_by", "data_encrypted",
            "keys_exposed", "consequences", "measures", "subject_advice", "law_enforcement_delay",
            "law_enforcement_reason", "risk_factors", "subjects_estimate")}
        initial["jurisdictions"] = ", ".join(breach.jurisdictions_declared or [])
        initial.update({name: local_value(getattr(breach, name), zone) for name in INSTANT_FIELDS})
        initial["processor"] = breach.processor_id
        initial["times_in"] = zone
        return cls(initial=initial, zone=zone, prefix="facts")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        zone = data.get("times_in") or self.zone
        for name in INSTANT_FIELDS:
            raw = data.get(name)
            if raw in (None, ""):
                data[name] = None
                continue
            try:
                data[name] = parse_instant(raw, zone)
            except forms.ValidationError as exc:
                self.add_error(name, exc)
        detected, aware = data.get("detected_at"), data.get("aware_at")
        if detected and aware and aware < detected:
            self.add_error("aware_at", "Awareness cannot come before the first anomaly was detected.")
        start, end = data.get("occurred_from"), data.get("occurred_until")
        if start and end and end < start:
            self.add_error("occurred_until", "The exposure window must end after it starts.")
        if data.get("keys_exposed") and not data.get("data_encrypted"):
            self.add_error("keys_exposed", "Keys can only be exposed for data that was encrypted.")
        if data.get("law_enforcement_delay") and not (data.get("law_enforcement_reason") or "").strip():
            self.add_error("law_enforcement_reason", "Say what law enforcement asked for, and who.")
        return data

    def values(self) -> dict[str, Any]:
        """The register fields, as the verbs take them (``times_in`` is only how they were typed)."""
        out = {k: v for k, v in self.cleaned_data.items() if k != "times_in"}
        out["jurisdictions"] = [c.strip() for c in (out.get("jurisdictions") or "").split(",") if c.strip()]
        return out


class RiskForm(ErrorsFromVerb, forms.Form):
    """§5.1: the operator decides; the aid's suggestion is shown next to it. Any decision needs a rationale —
    an override of the suggestion all the more (it is recorded as suggested vs decided)."""

    level = forms.ChoiceField(choices=RiskLevel.choices, widget=forms.RadioSelect, label="Risk level",
                              error_messages={"required": "Choose a risk level."})
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=5000, required=False,
                                label="Rationale")

    def __init__(self, *args: Any, suggested: str = "", **kwargs: Any) -> None:
        super().__init__(*args, prefix="risk", **kwargs)
        self.suggested = suggested

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        rationale = (data.get("rationale") or "").strip()
        data["rationale"] = rationale
        level = data.get("level")
        if level and not rationale:
            if self.suggested and level != self.suggested:
                self.add_error("rationale", "You are overriding the aid's suggestion "
                                            f"({RiskLevel(self.suggested).label.lower()}): say why.")
            else:
                self.add_error("rationale", "Say why: the reasoning is part of the register (Art. 33(5)).")
        return data


class ExceptionForm(ErrorsFromVerb, forms.Form):
    exception = forms.ChoiceField(choices=Exception34.choices, label="Art. 34(3) exception", required=False)
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=5000, required=False,
                                label="Rationale")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix="exc", **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["rationale"] = (data.get("rationale") or "").strip()
        if data.get("exception") and not data["rationale"]:
            self.add_error("rationale", "Say why the exception applies (Art. 34(3)); the authority may ask (34(4)).")
        return data


class FilingForm(ErrorsFromVerb, forms.Form):
    """A notification made to an authority (Art. 33, the ICO, a US AG sample copy, the ANPD)."""

    rule = forms.ChoiceField(label="Deadline it meets", choices=())
    authority = forms.CharField(max_length=200, label="Authority")
    phase = forms.ChoiceField(choices=FilingPhase.choices, initial=FilingPhase.INITIAL, label="Phase (Art. 33(4))")
    follows = forms.ChoiceField(label="Completes the filing", required=False, choices=())
    submission_ref = forms.CharField(max_length=200, required=False, label="Authority's reference")
    delay_reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=5000, required=False,
                                   label="Reasons for the delay",
                                   help_text="Required when the filing is made after the deadline (Art. 33(1)).")
    document = forms.FileField(required=False, label="The PDF as filed",
                               help_text="Optional; without it the generated Art. 33 PDF is stored.")

    def __init__(self, *args: Any, breach: Breach, **kwargs: Any) -> None:
        super().__init__(*args, prefix="filing", **kwargs)
        self.breach = breach
        deadlines = list(breach.deadlines.order_by("due_at", "rule"))
        # Filings go to authorities: every deadline whose addressee is not the affected people themselves.
        rules = [d for d in deadlines if d.rule in AUTHORITY_RULES
                 or (d.authority and d.authority.lower() != "subjects" and d.rule not in ("B-DS", "CB-IND"))]
        rules = rules or deadlines
        self.fields["rule"].choices = [(d.rule, f"{d.rule} — {d.authority or d.regime}") for d in rules]
        self.authorities = {d.rule: d.authority for d in rules}
        self.filings = {str(f.pk): f for f in BreachFiling.objects.filter(breach=breach).order_by("filed_at")}
        self.fields["follows"].choices = [("", "— (this is the first report)")] + [
            (pk, f"{f.rule} {f.get_phase_display().lower()} to {f.authority}, {f.filed_at:%d %b %H:%M} UTC")
            for pk, f in self.filings.items()]
        if rules and not self.is_bound:
            self.fields["rule"].initial = rules[0].rule
            self.fields["authority"].initial = rules[0].authority

    def clean_document(self) -> bytes | None:
        upload = self.cleaned_data.get("document")
        if not upload:
            return None
        if upload.size > MAX_DOCUMENT_BYTES:
            raise forms.ValidationError("The document is larger than 10 MB.")
        data = upload.read()
        if not data.startswith(b"%PDF-"):
            raise forms.ValidationError("Attach the notification as a PDF.")
        return data

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        follows = data.get("follows") or ""
        data["follows"] = self.filings.get(follows) if follows else None
        if follows and data["follows"] is None:
            self.add_error("follows", "Choose one of this breach's filings.")
        if data.get("phase") and data["phase"] != FilingPhase.INITIAL and not follows:
            self.add_error("follows", "A follow-up or final report names the filing it completes (Art. 33(4)).")
        if data.get("phase") == FilingPhase.INITIAL and follows:
            self.add_error("phase", "An initial report follows no other filing: choose follow-up or final.")
        for name in ("submission_ref", "delay_reason"):
            data[name] = (data.get(name) or "").strip()
        return data


class RemedialForm(ErrorsFromVerb, forms.Form):
    action = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, label="Action taken",
                             error_messages={"required": "Describe the action taken."})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix="remedial", **kwargs)

    def clean_action(self) -> str:
        value = self.cleaned_data["action"].strip()
        if not value:
            raise forms.ValidationError("Describe the action taken.")
        return value


class InDoubtForm(ErrorsFromVerb, forms.Form):
    """The operator's answer for notices held in doubt (dsr.breach_notices.resolve_in_doubt)."""

    decision = forms.ChoiceField(widget=forms.RadioSelect, label="What does the mail provider's log show?",
                                 error_messages={"required": "Choose what the provider's log shows."})
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="What you checked",
                             error_messages={"required": "Say what you checked."})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix="in_doubt", **kwargs)
        self.fields["decision"].choices = list(IN_DOUBT_DECISIONS.items())


class ConfirmForm(ErrorsFromVerb, forms.Form):
    """Closing the breach, starting the notices: one deliberate tick."""

    confirm = forms.BooleanField(error_messages={"required": "Tick the box to confirm."})

    def __init__(self, *args: Any, prefix: str, label: str, **kwargs: Any) -> None:
        super().__init__(*args, prefix=prefix, **kwargs)
        self.fields["confirm"].label = label
