"""Approvers (the DPO) keep the processing register in the admin; each change is audited; nobody else gets in
(issue 7 §9). The browser version is tests/browser/test_staff_signin_browser.py."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from dsr.models import CategoryPolicy, Event, ProcessingActivity, Recipient
from dsr.roles import Role, create_staff

pytestmark = pytest.mark.django_db

PASSWORD = "register-admin-pass"


def client_for(user: User, **kw) -> Client:
    client = Client(**kw)
    client.force_login(user)
    return client


@pytest.fixture
def dpo() -> Client:
    return client_for(create_staff("dpo-t", PASSWORD, Role.APPROVER))


def _form(page: str) -> dict[str, str]:
    """The change form's current values, as a browser would post them back."""
    fields: dict[str, str] = {}
    for name, value in re.findall(r'<input type="(?:text|number|hidden)" name="([^"]+)" value="([^"]*)"', page):
        fields[name] = value
    for name, body in re.findall(r'<textarea name="([^"]+)"[^>]*>\n?(.*?)</textarea>', page, re.S):
        fields[name] = body
    for name, options in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', options)
        fields[name] = chosen.group(1) if chosen else ""
    return fields


def test_an_approver_enters_the_admin_and_sees_the_register_only(dpo):
    index = dpo.get("/admin/")
    assert index.status_code == 200
    page = index.content.decode()
    for model in ("recipient", "categorypolicy", "processingactivity"):
        assert f"/admin/dsr/{model}/" in page
    for hidden in ("subject", "dataitem", "event", "apitoken"):
        assert f"/admin/dsr/{hidden}/" not in page
    assert dpo.get("/admin/dsr/event/").status_code == 403


def test_an_approver_edits_a_recipient_and_the_change_is_audited(dpo):
    recipient = Recipient.objects.order_by("pk").first()
    url = f"/admin/dsr/recipient/{recipient.pk}/change/"
    data = _form(dpo.get(url).content.decode())
    data.update(contact="dpa-desk@processor.example", _save="Save")

    response = dpo.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    recipient.refresh_from_db()
    assert recipient.contact == "dpa-desk@processor.example"
    event = Event.objects.filter(kind="register.changed").get()
    assert (event.object_type, event.object_id) == ("recipient", str(recipient.pk))
    assert event.data == {"fields": ["contact"]}
    assert event.actor == f"staff:{User.objects.get(username='dpo-t').pk}"
    assert LogEntry.objects.filter(object_id=str(recipient.pk)).exists()


def test_adding_and_deleting_a_recipient_are_audited(dpo):
    response = dpo.post("/admin/dsr/recipient/add/", {
        "name": "Example Render Farm", "role": "processor", "service": "Renders generated videos",
        "country": "US", "transfer_safeguard": "SCCs", "contact": "", "_save": "Save"})
    assert response.status_code == 302
    added = Recipient.objects.get(name="Example Render Farm")
    assert dpo.post(f"/admin/dsr/recipient/{added.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Recipient.objects.filter(pk=added.pk).exists()
    kinds = list(Event.objects.filter(object_type="recipient", object_id=str(added.pk)).values_list("kind", flat=True))
    assert kinds == ["register.added", "register.deleted"]


def test_register_keys_that_other_records_name_are_fixed_and_policies_cannot_be_deleted(dpo):
    activity = ProcessingActivity.objects.order_by("pk").first()
    page = dpo.get(f"/admin/dsr/processingactivity/{activity.pk}/change/").content.decode()
    assert 'name="purpose"' not in page and activity.purpose in page  # shown, not editable
    policy = CategoryPolicy.objects.order_by("pk").first()
    assert dpo.get(f"/admin/dsr/categorypolicy/{policy.pk}/delete/").status_code == 403
    assert CategoryPolicy.objects.filter(pk=policy.pk).exists()


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.AUDITOR])
def test_other_roles_are_refused_the_admin_and_the_refusal_is_audited(role):
    user = create_staff(f"u-{role}", PASSWORD, role)
    client = client_for(user)
    recipient = Recipient.objects.order_by("pk").first()

    for url in ("/admin/", f"/admin/dsr/recipient/{recipient.pk}/change/"):
        response = client.get(url, follow=True)
        assert response.status_code == 403, url
        assert b"Nothing was changed" in response.content
    refused = client.post(f"/admin/dsr/recipient/{recipient.pk}/change/", {"name": "Hijacked"}, follow=True)
    assert refused.status_code == 403
    recipient.refresh_from_db()
    assert recipient.name != "Hijacked"
    assert Event.objects.filter(kind="staff.forbidden", actor=f"staff:{user.pk}").count() >= 3
    assert not Event.objects.filter(kind__startswith="register.").exists()


def test_an_approver_owing_a_second_factor_is_sent_to_it_before_the_admin(settings):
    settings.DSR_REQUIRE_2FA = True
    client = client_for(create_staff("dpo-2fa", PASSWORD, Role.APPROVER))
    response = client.get("/admin/dsr/recipient/")
    assert response.status_code == 302 and response.url.startswith(reverse("staff-2fa-enrol"))


def test_admin_forms_accept_a_post_with_the_pages_real_origin(dpo):
    """Browsers send the page's origin with a POST once the page is not 'no-referrer' (CSRF checks it)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(username="dpo-t"))
    recipient = Recipient.objects.order_by("pk").first()
    url = f"/admin/dsr/recipient/{recipient.pk}/change/"
    page = client.get(url)
    assert page["Referrer-Policy"] == "same-origin"
    data = _form(page.content.decode())
    data.update(service="Hosting, updated", _save="Save")

    assert client.post(url, data, HTTP_ORIGIN="null").status_code == 403  # what "no-referrer" made browsers send
    assert client.post(url, data, HTTP_ORIGIN="http://testserver").status_code == 302


def test_the_demo_dpo_of_make_run_signs_in_and_enters_the_admin():
    from dsr.demo import DEMO_OPERATOR
    from dsr.roles import ensure_roles_and_demo_staff

    ensure_roles_and_demo_staff(DEMO_OPERATOR)
    client = Client()
    signed_in = client.post("/staff/login/", {"username": "dpo", "password": "dpo-demo-pass", "next": "/admin/"})
    assert signed_in.status_code == 302 and signed_in.url == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/dsr/recipient/").status_code == 200
