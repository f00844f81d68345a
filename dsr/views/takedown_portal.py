"""The public takedown pages (issue 13): "I appear in a photo or video and did not agree". No account needed; a
request number at once; exactly what is missing; a private status link to add it; the complaint route that
notices point to. Views parse, call one verb of dsr/takedowns.py, render. Pages are never cached."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from dsr import takedowns
from dsr.models.takedowns import FiledAs

FILINGS_PER_HOUR = 20  # per client address: enough for a person, not for a flood


class _FilingFields(forms.Form):
    filed_as = forms.ChoiceField(choices=FiledAs.choices, initial=FiledAs.INDIVIDUAL, widget=forms.RadioSelect,
                                 label="Who are you?", required=False)
    acting_for = forms.CharField(max_length=200, required=False, label="Name of the person you act for")
    authority = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                label="On what authority do you act for them?")
    link = forms.CharField(max_length=2000, required=False, label="Link to the picture or video on the platform")
    item_id = forms.CharField(max_length=64, required=False, label="Item id (if the platform showed you one)")
    location_details = forms.CharField(max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                       label="Anything else that helps us find it")
    reference_image = forms.FileField(required=False, label="A copy of the picture, or a photo of you that was used "
                                      "(JPEG, PNG or WebP)")
    intimate = forms.ChoiceField(choices=[("no", "No"), ("yes", "Yes")], initial="no", widget=forms.RadioSelect,
                                 required=False, label="Does it show nudity or sexual activity?")
    minor = forms.BooleanField(required=False, label="A person shown may be under 18")
    good_faith_statement = forms.CharField(max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                           label="Why do you believe it was published without consent?")
    good_faith_confirmed = forms.BooleanField(required=False, label="I believe in good faith that this picture or "
                                              "video was published without the consent of the person shown")
    contact_email = forms.CharField(max_length=254, required=False, label="Your e-mail address")
    contact_phone = forms.CharField(max_length=40, required=False, label="Or a phone number")
    signature_name = forms.CharField(max_length=200, required=False, label="Your full name (your signature)")
    signature_attested = forms.BooleanField(required=False, label="By typing my name I sign this request, and what "
                                            "I have said is true")


class IntakeForm(_FilingFields):
    also_erase_own_data = forms.BooleanField(required=False, label="Also erase my own photos and face data that "
                                             "this platform holds (GDPR right to erasure)")


def _filing(data: dict[str, Any], upload: Any) -> takedowns.Filing:
    ref = None
    if upload is not None:
        if upload.size > settings.DSR_TAKEDOWN_REFERENCE_MAX_BYTES:
            raise takedowns.TakedownError("the uploaded copy is too large")
        ref = upload.read()
    return takedowns.Filing(
        signature_name=data.get("signature_name") or "", signature_attested=bool(data.get("signature_attested")),
        filed_as=data.get("filed_as") or FiledAs.INDIVIDUAL, acting_for=data.get("acting_for") or "",
        authority=data.get("authority") or "", item_refs=[data["item_id"]] if data.get("item_id") else [],
        links=[data["link"]] if data.get("link") else [], location_details=data.get("location_details") or "",
        reference_image=ref, good_faith_statement=data.get("good_faith_statement") or "",
        good_faith_confirmed=bool(data.get("good_faith_confirmed")), contact_email=data.get("contact_email") or "",
        contact_phone=data.get("contact_phone") or "", intimate=data.get("intimate") == "yes",
        minor=bool(data.get("minor")), also_erase_own_data=bool(data.get("also_erase_own_data")))


def public_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request.now = timezone.now()
        response = view(request, *args, **kwargs)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Robots-Tag"] = "noindex"
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return wrapper


def _over_limit(request: HttpRequest) -> bool:
    address = request.META.get("REMOTE_ADDR", "")
    key = "takedown-filings:" + hashlib.sha256(address.encode()).hexdigest()[:32]
    cache.add(key, 0, timeout=3600)
    try:
        return cache.incr(key) > FILINGS_PER_HOUR
    except ValueError:
        return False


@require_http_methods(["GET", "POST"])
@public_page
def intake(request: HttpRequest) -> HttpResponse:
    error = ""
    if request.method == "POST":
        form = IntakeForm(request.POST, request.FILES)
        if _over_limit(request):
            error = "Too many requests from your connection in the last hour. Please try again later."
        elif form.is_valid():
            try:
                td, _created, token = takedowns.file_takedown(
                    _filing(form.cleaned_data, form.cleaned_data.get("reference_image")), channel="portal",
                    actor="portal", now=request.now)
            except takedowns.TakedownError as exc:
                error = str(exc)
            else:
                return HttpResponseRedirect(f"/takedown/r/{token}/")
        else:
            error = "Some answers could not be read; please check the form."
    else:
        form = IntakeForm()
    return render(request, "takedown/intake.html", {"form": form, "error": error,
                                                    "controller_name": settings.DSR_CONTROLLER_NAME},
                  status=422 if error else 200)


@require_http_methods(["GET", "POST"])
@public_page
def status(request: HttpRequest, token: str) -> HttpResponse:
    td = takedowns.find_by_token(token)
    if td is None:
        return render(request, "takedown/gone.html", status=404)
    error = ""
    form = _FilingFields()
    if request.method == "POST":
        form = _FilingFields(request.POST, request.FILES)
        if form.is_valid():
            try:
                takedowns.supplement_takedown(td, _filing(form.cleaned_data, form.cleaned_data.get("reference_image")),
                                              actor="portal", now=request.now)
            except takedowns.TakedownError as exc:
                error = str(exc)
            else:
                return HttpResponseRedirect(request.path)
        else:
            error = "Some answers could not be read; please check the form."
        td.refresh_from_db()
    missing = takedowns.missing_elements(td) if td.state == "incomplete" else []
    zone = takedowns.operator_zone()
    return render(request, "takedown/status.html", {
        "td": td, "missing": missing, "missing_fields": {m.field for m in missing}, "form": form, "error": error,
        "due_local": takedowns.shown(td.due_at, zone) if td.due_at else None,
        "controller_name": settings.DSR_CONTROLLER_NAME}, status=422 if error else 200)


class ComplaintForm(forms.Form):
    text = forms.CharField(max_length=8000, widget=forms.Textarea(attrs={"rows": 6}),
                           label="Why should the decision change?")


@require_http_methods(["GET", "POST"])
@public_page
def complaint(request: HttpRequest, token: str) -> HttpResponse:
    c = takedowns.complaint_by_token(token)
    if c is None:
        return render(request, "takedown/gone.html", status=404)
    error, form = "", ComplaintForm()
    if request.method == "POST":
        form = ComplaintForm(request.POST)
        if form.is_valid():
            try:
                c = takedowns.file_complaint(c, text=form.cleaned_data["text"], now=request.now)
            except takedowns.TakedownError as exc:
                error = str(exc)
            else:
                return HttpResponseRedirect(request.path)
        else:
            error = "Please explain why the decision should change."
    return render(request, "takedown/complaint.html", {"c": c, "td": c.takedown, "form": form, "error": error,
                                                       "open": c.is_open(request.now),
                                                       "controller_name": settings.DSR_CONTROLLER_NAME},
                  status=422 if error else 200)
