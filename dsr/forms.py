"""Forms of the public portal. Field errors are shown next to their field and listed at the top of the page,
linked to it (templates/portal/_field.html). A later intake (the takedown desk) reuses the same pattern: a Django
form whose ``clean`` builds a plain value object, and the shared field template."""

from __future__ import annotations

import io
from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from dsr import images, portal
from dsr.models.vault import normalise_email

MANDATE_TYPES = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP"}


def _email(value: str, field: str) -> str:
    try:
        validate_email(value)
        return normalise_email(value)
    except (forms.ValidationError, ValueError) as exc:
        raise forms.ValidationError(_("Enter an e-mail address like name@example.com."), code=field) from exc


class FilingForm(forms.Form):
    choice = forms.ChoiceField(label=_("What would you like us to do?"), widget=forms.RadioSelect,
                               error_messages={"required": _("Choose what you would like us to do.")})
    purpose = forms.ChoiceField(label=_("Stop using my data for"), widget=forms.RadioSelect, required=False,
                                help_text=_("Only if you chose “Stop using my data for …”."))
    email = forms.CharField(label=_("Your e-mail address"), max_length=254,
                            help_text=_("We send a code to this address to confirm the request is yours. If you "
                                        "have an account with us, use the address of your account."),
                            error_messages={"required": _("Enter your e-mail address.")})
    country = forms.ChoiceField(label=_("Where do you live?"),
                                help_text=_("This decides which law protects you and our deadline."),
                                error_messages={"required": _("Choose where you live.")})
    us_state = forms.ChoiceField(label=_("US state"), required=False,
                                 help_text=_("Only if you live in the United States."))
    details = forms.CharField(label=_("Anything we should know"), required=False, max_length=5000,
                              widget=forms.Textarea(attrs={"rows": 4}),
                              help_text=_("Needed for a correction or a complaint. Please do not send identity "
                                          "documents."))
    content_ref = forms.CharField(label=_("Where is the photo or video?"), required=False, max_length=2000,
                                  widget=forms.Textarea(attrs={"rows": 3}),
                                  help_text=_("A link, or a description that lets us find it."))
    good_faith = forms.BooleanField(
        label=_("I believe in good faith that it was published without my consent."), required=False)
    signature = forms.CharField(label=_("Your full name (your signature)"), required=False, max_length=200,
                                help_text=_("Needed if you appear in a photo or video, or file for someone else."))
    on_behalf = forms.BooleanField(label=_("I am an authorized agent filing for someone else"), required=False)
    agent_name = forms.CharField(label=_("Your name (agent)"), required=False, max_length=200)
    agent_email = forms.CharField(label=_("Your e-mail address (agent)"), required=False, max_length=254)
    mandate = forms.FileField(label=_("The person's signed permission"), required=False,
                              help_text=_("PDF, JPEG or PNG, up to 5 MB. We also ask the person directly, and "
                                          "their data goes only to them, never to you."))

    def __init__(self, *args: Any, language: str = "en", gpc: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.language, self.gpc = language, gpc
        self.fields["choice"].choices = [(c.key, c.label) for c in portal.CHOICES]
        self.purposes = portal.objection_purposes()
        self.fields["purpose"].choices = [(p.purpose, p.name) for p in self.purposes]
        self.fields["country"].choices = [("", _("Choose…"))] + sorted(
            ((code, name) for code, name in portal.COUNTRY_NAMES.items() if code != "ZZ"), key=lambda x: str(x[1])
        ) + [("ZZ", portal.COUNTRY_NAMES["ZZ"])]
        self.fields["us_state"].choices = [("", "—")] + list(portal.US_STATES.items())
        self.submission: portal.Submission | None = None

    def clean_email(self) -> str:
        return _email(self.cleaned_data.get("email", "").strip(), "email")

    def clean_agent_email(self) -> str:
        value = self.cleaned_data.get("agent_email", "").strip()
        return _email(value, "agent_email") if value else ""

    def clean_mandate(self) -> tuple[bytes, str] | None:
        upload = self.cleaned_data.get("mandate")
        if not upload:
            return None
        limit = settings.DSR_PORTAL_MANDATE_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(_("The file is larger than 5 MB."))
        data = upload.read(limit + 1)
        if data.startswith(b"%PDF-"):
            return data, "application/pdf"
        try:
            clean = images.sanitise_image(io.BytesIO(data), images.ImageLimits(max_bytes=limit))
        except images.RejectedUpload as exc:
            raise forms.ValidationError(_("Send the permission as a PDF, JPEG or PNG file.")) from exc
        return clean.data, clean.content_type

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        choice = data.get("choice", "")
        if choice == "objection" and not data.get("purpose"):
            self.add_error("purpose", _("Choose what you want us to stop using your data for."))
        if data.get("country") == "US" and not data.get("us_state"):
            self.add_error("us_state", _("Choose your state."))
        if choice in ("rectification", "complaint") and len((data.get("details") or "").strip()) < 5:
            self.add_error("details", _("Tell us what is wrong, in a few words."))
        if choice == "depicted":
            if len((data.get("content_ref") or "").strip()) < 5:
                self.add_error("content_ref", _("Tell us where the photo or video is."))
            if not data.get("good_faith"):
                self.add_error("good_faith", _("Please confirm this statement."))
        agent = bool(data.get("on_behalf"))
        if agent:
            if not (data.get("agent_name") or "").strip():
                self.add_error("agent_name", _("Enter your name."))
            if not data.get("agent_email"):
                self.add_error("agent_email", _("Enter your e-mail address."))
            elif data.get("agent_email") == data.get("email"):
                self.add_error("agent_email", _("Give the person's own address above and yours here."))
            if not data.get("mandate"):
                self.add_error("mandate", _("Attach the person's signed permission."))
        if (choice == "depicted" or agent) and len((data.get("signature") or "").strip()) < 2:
            self.add_error("signature", _("Type your full name as your signature."))
        if self.errors:
            return data
        mandate = data.get("mandate") if agent else None
        sub = portal.Submission(
            choice=choice, email=data["email"], country=data["country"],
            region=data.get("us_state", "") if data["country"] == "US" else "",
            purpose=data.get("purpose", "") if choice == "objection" else "",
            details=(data.get("details") or "").strip(),
            content_ref=(data.get("content_ref") or "").strip() if choice == "depicted" else "",
            signature=(data.get("signature") or "").strip(),
            agent_name=(data.get("agent_name") or "").strip() if agent else "",
            agent_email=data.get("agent_email", "") if agent else "",
            mandate=mandate[0] if mandate else None, mandate_type=mandate[1] if mandate else "",
            language=self.language, gpc=self.gpc,
        )
        try:
            portal.infer_regimes(portal.resolve_kind(sub), sub.country, sub.region)
        except portal.PortalError as exc:
            self.add_error(exc.field or None, exc.message)
            return data
        self.submission = sub
        return data


class CodeForm(forms.Form):
    code = forms.CharField(label=_("The 6-digit code from the e-mail"), max_length=12,
                           error_messages={"required": _("Enter the code from the e-mail.")})


class SigninForm(forms.Form):
    email = forms.CharField(label=_("Your e-mail address"), max_length=254,
                            error_messages={"required": _("Enter your e-mail address.")})

    def clean_email(self) -> str:
        return _email(self.cleaned_data.get("email", "").strip(), "email")


class ReplyForm(forms.Form):
    body = forms.CharField(label=_("Your answer"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4}),
                           error_messages={"required": _("Write a message first.")})
