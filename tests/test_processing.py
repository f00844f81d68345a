"""Processing flags the platform obeys (issue 9 §7): the answer of GET …/processing flips as objections,
restrictions, direct-marketing objections and consent withdrawals are recorded and lifted (legal-matrix G-OBJ,
G-RES Art. 18(3), G-DM, G-CW)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from dsr import processing, steps, vault, workflow
from dsr.models import DataItem, Event, FlagKind, ProcessingFlag, RunState, StepRun
from dsr.workflow import WorkflowError
from tests.erasure_kit import Receiver, build_world, point_recipients_at, run_to_end, staff

pytestmark = pytest.mark.django_db


def allowed(api, subject, purpose: str, item=None) -> bool:
    url = f"/api/v1/subjects/{subject.pk}/processing?purpose={purpose}" + (f"&item={item.pk}" if item else "")
    resp = api.get(url)
    assert resp.status_code == 200, resp.content
    return resp.json()["allowed"]


def file(kind: str, subject, now, *, verify: bool = True):
    case, _ = workflow.submit_case(kind=kind, regimes=["eu_gdpr"], subject=subject, received_at=now, actor="t",
                                   now=now)
    if verify:
        case = workflow.verify_identity(case, method="account_reauth", actor=staff("op"), now=now)
    return case


def test_an_objection_to_ai_training_stops_it_for_every_item_of_the_subject_and_everything_derived(api):
    now = timezone.now()
    w = build_world(now)
    assert allowed(api, w.alice, "ai_training") and allowed(api, w.bob, "ai_training", w.video)
    case = file("objection", w.alice, now)
    with pytest.raises(WorkflowError, match="purposes it covers"):
        workflow.complete_case(case, actor=staff("op"), now=now)  # a bare "Complete" would change nothing
    processing.complete_with_flags(case, purposes=["ai_training", "face_matching"], actor=staff("op"), now=now)
    case.refresh_from_db()
    assert case.state == "completed"

    assert not allowed(api, w.alice, "ai_training")
    assert not allowed(api, w.alice, "ai_training", w.alice_photos[0])
    # Bob's question about the video made from Alice's photo and his: Alice's objection binds it too.
    answer = api.get(f"/api/v1/subjects/{w.bob.pk}/processing?purpose=ai_training&item={w.video.pk}").json()
    assert answer["allowed"] is False and "objected" in answer["reasons"][0]
    assert allowed(api, w.bob, "ai_training", w.bob_photo)  # Bob's own photo is his to decide
    assert allowed(api, w.alice, "analytics")  # other purposes go on

    flag = ProcessingFlag.objects.get(subject=w.alice, purpose="ai_training")
    with pytest.raises(WorkflowError, match="why"):
        processing.lift_flag(flag, reason="", actor=staff("op"), now=now)
    processing.lift_flag(flag, reason="The subject withdrew the objection by e-mail", actor=staff("op"), now=now)
    assert allowed(api, w.alice, "ai_training") and not allowed(api, w.alice, "face_matching", w.alice_photos[0])


def test_a_restriction_stops_everything_and_cannot_be_lifted_before_the_subject_is_told(api):
    now = timezone.now()
    w = build_world(now)
    case = file("restriction", w.alice, now)
    with pytest.raises(WorkflowError, match="purposes"):
        processing.complete_with_flags(case, purposes=["selling_faces"], actor=staff("op"), now=now)
    processing.complete_with_flags(case, purposes=["*"], actor=staff("op"), now=now)
    for purpose in ("analytics", "service_delivery", "ai_training"):
        assert not allowed(api, w.alice, purpose)
    assert allowed(api, w.bob, "analytics")

    flag = ProcessingFlag.objects.get(subject=w.alice, kind=FlagKind.RESTRICTION)
    events = Event.objects.count()
    with pytest.raises(WorkflowError, match=r"Art\. 18\(3\)"):
        processing.lift_flag(flag, reason="Accuracy of the data has been verified", actor=staff("op"), now=now)
    assert Event.objects.count() == events and not allowed(api, w.alice, "analytics")

    mail.outbox.clear()
    told = now + timedelta(hours=1)
    processing.inform_before_lifting(flag, actor=staff("op"), now=told)
    [notice] = mail.outbox if mail.outbox else [None]
    flag.refresh_from_db()
    assert flag.subject_told_at == told
    from dsr.models import OutboundMessage

    message = OutboundMessage.objects.get(template="restriction_lifting")
    assert message.to == "alice@example.com" and "Art. 18(3)" in message.body_text
    with pytest.raises(WorkflowError, match=r"Art\. 18\(3\)"):  # telling and lifting at the same instant is not
        processing.lift_flag(flag, reason="Accuracy of the data has been verified", actor=staff("op"), now=told)
    processing.lift_flag(flag, reason="Accuracy of the data has been verified", actor=staff("op"),
                         now=told + timedelta(days=2))
    assert allowed(api, w.alice, "analytics")


def test_a_direct_marketing_objection_stops_marketing_the_moment_it_is_filed(api):
    now = timezone.now()
    w = build_world(now)
    vault.record_consent(w.alice, purpose="marketing", granted_at=now, actor="t", now=now)
    assert allowed(api, w.alice, "marketing")
    case = file("direct_marketing_objection", w.alice, now, verify=False)
    assert not allowed(api, w.alice, "marketing")  # G-DM: at once, before anyone has looked at the case
    assert allowed(api, w.alice, "service_delivery")
    with pytest.raises(WorkflowError, match="absolute"):
        workflow.refuse_case(case, ground="other", reason="We would rather keep marketing.", actor="t", now=now)
    workflow.complete_case(case, actor=staff("op"), now=now)
    assert not allowed(api, w.alice, "marketing")
    assert ProcessingFlag.objects.filter(subject=w.alice, kind=FlagKind.DIRECT_MARKETING).count() == 1


def test_withdrawing_a_depicted_persons_consent_erases_the_embedding_and_the_videos_made_from_it(api):
    receiver = Receiver().up()
    try:
        point_recipients_at(receiver)
        now = timezone.now()
        w = build_world(now)
        consent = vault.record_consent(w.alice, purpose="face_matching", granted_at=now, actor="t", now=now,
                                       item=w.alice_photos[0])
        assert allowed(api, w.alice, "face_matching", w.alice_photos[0])
        resp = api.post(f"/api/v1/consents/{consent.pk}/withdraw")
        assert resp.status_code == 200 and resp.json()["withdrawn_at"] and resp.json()["erasure_run"]
        assert not allowed(api, w.alice, "face_matching", w.alice_photos[0])
        run = run_to_end(StepRun.objects.get(pk=resp.json()["erasure_run"]), now=now)
        assert run.state == RunState.DONE
        gone = set(DataItem.objects.filter(purged_at__isnull=False).values_list("pk", flat=True))
        assert gone == {w.embedding.pk, w.video_of_embedding.pk}
        assert vault.read_item(w.alice_photos[0]) and vault.read_item(w.video)  # the photo and other videos stay
        # The recipients were told which items, not whose consent it was.
        assert receiver.requests and all(r["json"]["subject_id"] is None for r in receiver.requests)
        assert {str(w.embedding.pk), str(w.video_of_embedding.pk)} == set(receiver.requests[0]["json"]["item_ids"])
    finally:
        receiver.down()


def test_a_consent_withdrawal_case_withdraws_sets_the_flag_and_a_new_consent_lifts_it(api):
    now = timezone.now()
    w = build_world(now)
    vault.record_consent(w.alice, purpose="photo_generation", granted_at=now, actor="t", now=now)
    assert allowed(api, w.alice, "photo_generation")
    case = file("consent_withdrawal", w.alice, now, verify=False)
    processing.complete_with_flags(case, purposes=["photo_generation"], actor=staff("op"), now=now)
    answer = api.get(f"/api/v1/subjects/{w.alice.pk}/processing?purpose=photo_generation").json()
    assert answer["allowed"] is False and any("withdrew consent" in r for r in answer["reasons"])
    later = now + timedelta(days=1)
    vault.record_consent(w.alice, purpose="photo_generation", granted_at=later, actor="t", now=later)
    with time_machine.travel(later + timedelta(minutes=1)):
        assert allowed(api, w.alice, "photo_generation")  # she consented again after withdrawing
    # Derived items for that purpose relied on the withdrawn consent: an erasure of them was started.
    run = StepRun.objects.get(kind="erasure")
    steps.advance(run.pk)
    assert run.erasure.reason == "consent_withdrawal"


def test_the_console_completes_a_restriction_with_its_purposes_tells_the_subject_then_lifts_it(api):
    from django.test import Client
    from django.urls import reverse

    now = timezone.now()
    w = build_world(now)
    case = file("restriction", w.alice, now)
    operator = Client()
    operator.force_login(staff("op"))
    page = operator.get(reverse("staff-case", args=[case.pk])).content.decode()
    assert reverse("staff-case-complete", args=[case.pk]) not in page  # no bare "Complete" for a restriction
    operator.post(reverse("staff-flags-complete", args=[case.pk]), {"purposes": ["ai_training", "analytics"]})
    assert not allowed(api, w.alice, "ai_training") and not allowed(api, w.alice, "analytics")
    flag = ProcessingFlag.objects.get(subject=w.alice, purpose="analytics")
    page = operator.get(reverse("staff-case", args=[case.pk])).content.decode()
    assert reverse("staff-flag-inform", args=[case.pk, flag.pk]) in page
    assert reverse("staff-flag-lift", args=[case.pk, flag.pk]) not in page  # not before the subject is told
    refused = operator.post(reverse("staff-flag-lift", args=[case.pk, flag.pk]), {"reason": "Accuracy verified now"})
    assert "Art. 18(3)" in [str(m) for m in refused.wsgi_request._messages][-1]
    assert not allowed(api, w.alice, "analytics")
    operator.post(reverse("staff-flag-inform", args=[case.pk, flag.pk]), {"channel": "post"})
    flag.refresh_from_db()
    assert flag.subject_told_at is not None and flag.told_channel == "post"
    with time_machine.travel(now + timedelta(minutes=30)):  # later than the telling (and within the session)
        operator.post(reverse("staff-flag-lift", args=[case.pk, flag.pk]), {"reason": "Accuracy verified now"})
        assert allowed(api, w.alice, "analytics") and not allowed(api, w.alice, "ai_training")
