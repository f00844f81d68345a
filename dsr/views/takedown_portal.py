"""The public takedown pages (issue 13): "I appear in a photo or video and did not agree". No account needed; a
request number at once; exactly what is missing; a private status link to add it; the complaint route that
notices point to. Views parse, call one verb of dsr/takedowns.py, render. They are portal pages (issue 11): its
base template, language choice, headers (never cached) and rate limits."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from dsr import ratelimit, takedown_intake, takedown_notices, takedowns
from dsr.models.takedowns import FiledAs
from dsr.views.portal import _limited, _page, portal_view

FILED_AS = [(FiledAs.INDIVIDUAL.value, _("I am the person shown")),
            (FiledAs.AUTHORIZED.value, _("I act for the person shown (for example as a parent, guardian or lawyer)"))]
YES_NO = [("no", _("No")), ("yes", _("Yes"))]


class _FilingFields(forms.Form):
    filed_as = forms.ChoiceField(choices=FILED_AS, initial=FiledAs.INDIVIDUAL, widget=forms.RadioSelect,
                                 label=_("Who are you?"), required=False)
    acting_for = forms.CharField(max_length=200, required=False, label=_("Name of the person you act for"))
    authority = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                label=_("On what authority do you act for them?"))
    link = forms.CharField(max_length=2000, required=False, label=_("Link to the picture or video on the platform"))
    item_id = forms.CharField(max_length=64, required=False, label=_("Item id, if the platform showed you one"))
    reference_image = forms.FileField(
        required=False, label=_("A copy of the picture, or a photo of you that was used"),
        help_text=_("JPEG, PNG or WebP. Used only to find the content; kept encrypted and destroyed when we no longer "
                    "need it as evidence."))
    location_details = forms.CharField(max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                       label=_("Anything else that helps us find it"))
    intimate = forms.ChoiceField(choices=YES_NO, initial="no", widget=forms.RadioSelect, required=False,
                                 label=_("Does it show nudity or sexual activity?"))
    minor = forms.BooleanField(required=False, label=_("A person shown may be under 18"))
    good_faith_statement = forms.CharField(max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                           label=_("Why do you believe it was published without consent?"))
    good_faith_confirmed = forms.BooleanField(
        required=False, label=_("I believe in good faith that this picture or video was published without the "
                                "consent of the person shown"))
    contact_email = forms.CharField(max_length=254, required=False, label=_("Your e-mail address"))
    contact_phone = forms.CharField(max_length=40, required=False, label=_("Or a phone number"))
    signature_name = forms.CharField(max_length=200, required=False, label=_("Your full name (your signature)"))
    signature_attested = forms.BooleanField(
        required=False, label=_("By typing my name I sign this request, and what I have said is true"))


class IntakeForm(_FilingFields):
    also_erase_own_data = forms.BooleanField(
        required=False, label=_("Also erase my own photos and face data that this platform holds (GDPR right to "
                                "erasure)"))


def _filing(data: dict[str, Any], upload: Any) -> takedown_intake.Filing:
    ref = None
    if upload is not None:
        if upload.size > settings.DSR_TAKEDOWN_REFERENCE_MAX_BYTES:
            raise takedowns.TakedownError(str(_("the uploaded copy is too large")))
        ref = upload.read()
    return takedown_intake.Filing(
        signature_name=data.get("signature_name") or "", signature_attested=bool(data.get("signature_attested")),
        filed_as=data.get("filed_as") or FiledAs.INDIVIDUAL, acting_for=data.get("acting_for") or "",
        authority=data.get("authority") or "", item_refs=[data["item_id"]] if data.get("item_id") else [],
        links=[data["link"]] if data.get("link") else [], location_details=data.get("location_details") or "",
        reference_image=ref, good_faith_statement=data.get("good_faith_statement") or "",
        good_faith_confirmed=bool(data.get("good_faith_confirmed")), contact_email=data.get("contact_email") or "",
        contact_phone=data.get("contact_phone") or "", intimate=data.get("intimate") == "yes",
        minor=bool(data.get("minor")), also_erase_own_data=bool(data.get("also_erase_own_data")))


def _noindex(response: HttpResponse) -> HttpResponse:
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@require_http_methods(["GET", "POST"])
@portal_view
def intake(request: HttpRequest) -> HttpResponse:
    error = ""
    form = IntakeForm()
    if request.method == "POST":
        try:
            ratelimit.hit("file_ip", ratelimit.client_ip(request), now=request.now)
        except ratelimit.RateLimited as exc:
            return _limited(request, exc)
        form = IntakeForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                _td, _created, token = takedown_intake.file_takedown(
                    _filing(form.cleaned_data, form.cleaned_data.get("reference_image")), channel="portal",
                    actor="portal", now=request.now, language=request.LANGUAGE_CODE)
            except takedowns.TakedownError as exc:
                error = str(exc)
            else:
                return HttpResponseRedirect(f"/takedown/r/{token}/")
        else:
            error = str(_("Some answers could not be read; please check the form."))
    return _noindex(_page(request, "takedown/intake.html", {"form": form, "error": error},
                          status=422 if error else 200))


@require_http_methods(["GET", "POST"])
@portal_view
def status(request: HttpRequest, token: str) -> HttpResponse:
    td = takedown_intake.find_by_token(token)
    if td is None:
        return _noindex(_page(request, "takedown/gone.html", status=404))
    error = ""
    form = _FilingFields()
    if request.method == "POST":
        try:
            ratelimit.hit("action_ip", ratelimit.client_ip(request), now=request.now)
        except ratelimit.RateLimited as exc:
            return _limited(request, exc)
        form = _FilingFields(request.POST, request.FILES)
        if form.is_valid():
            try:
                filing = _filing(form.cleaned_data, form.cleaned_data.get("reference_image"))
                takedown_intake.supplement_takedown(td, filing, actor="portal", now=request.now)
            except takedowns.TakedownError as exc:
                error = str(exc)
            else:
                return HttpResponseRedirect(request.path)
        else:
            error = str(_("Some answers could not be read; please check the form."))
        td.refresh_from_db()
    missing = takedown_intake.missing_elements(td) if td.state == "incomplete" else []
    return _noindex(_page(request, "takedown/status.html", {
        "td": td, "missing": missing, "missing_fields": {m.field for m in missing}, "form": form, "error": error,
        "due_local": takedowns.shown(td.due_at) if td.due_at else None}, status=422 if error else 200))


class ComplaintForm(forms.Form):
    text = forms.CharField(max_length=8000, widget=forms.Textarea(attrs={"rows": 6}),
                           label=_("Why should the decision change?"))


@require_http_methods(["GET", "POST"])
@portal_view
def complaint(request: HttpRequest, token: str) -> HttpResponse:
    c = takedown_notices.complaint_by_token(token)
    if c is None:
        return _noindex(_page(request, "takedown/gone.html", status=404))
    error, form = "", ComplaintForm()
    if request.method == "POST":
        try:
            ratelimit.hit("action_ip", ratelimit.client_ip(request), now=request.now)
        except ratelimit.RateLimited as exc:
            return _limited(request, exc)
        form = ComplaintForm(request.POST)
        if form.is_valid():
            try:
                c = takedown_notices.file_complaint(c, text=form.cleaned_data["text"], now=request.now)
            except takedowns.TakedownError as exc:
                error = str(exc)
            else:
                return HttpResponseRedirect(request.path)
        else:
            error = str(_("Please explain why the decision should change."))
    return _noindex(_page(request, "takedown/complaint.html", {"c": c, "td": c.takedown, "form": form, "error": error,
                                                               "open": c.is_open(request.now)},
                          status=422 if error else 200))
