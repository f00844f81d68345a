"""The portal driving the exports desk (and, once it lands, the erasure desk) in a real browser: a person downloads
their export once, and a second download is refused.
Screenshots go to the same artifacts directory as tests/browser/test_portal_browser.py."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from dsr import vault
from dsr.models import Case, OutboundMessage
from dsr.roles import Role, create_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def artifacts() -> Path:
    root = Path(os.environ.get("DSR_ARTIFACTS_DIR") or Path(django_settings.BASE_DIR) / "var" / "test-artifacts")
    root = root / "portal"
    root.mkdir(parents=True, exist_ok=True)
    return root


def code_for(address: str) -> str:
    message = OutboundMessage.objects.filter(to=address, template="portal_code").order_by("-created_at").first()
    return re.search(r"^\s+(\d{6})$", message.body_text, re.M).group(1)


def file_and_confirm(page, base: str, choice: str, email: str) -> Case:
    page.goto(base + "/")
    page.check(f"#choice-{choice}")
    page.fill("#id_email", email)
    page.select_option("#id_country", "IE")
    page.click("button:has-text('Send request')")
    page.wait_for_url(re.compile(r".*/confirm/$"))
    page.fill("#id_code", code_for(email))
    page.click("button:has-text('Confirm')")
    page.wait_for_url(re.compile(r".*/status/$"))
    return Case.objects.get(subject__email=email, kind="erasure" if choice == "erasure" else choice)


def test_the_export_downloads_once_and_a_second_download_is_refused(live_server, page, artifacts):
    import zipfile

    from dsr import exports

    now = timezone.now()
    subject = vault.create_subject(actor="t", now=now, email="xena@example.com")
    vault.store_item(vault.NewItem(category="photo", purpose="photo_generation", holders=[(subject, "owner")],
                                   content=b"\xff\xd8 a photo of Xena", content_type="image/jpeg"), actor="t", now=now)
    base = live_server.url
    case = file_and_confirm(page, base, "access", "xena@example.com")
    assert case.verified_at is not None
    operator = create_staff("olga", "olga-operator-pass", Role.OPERATOR)
    exports.start_export(case, actor=operator, now=timezone.now())  # runs inline (django-q sync in tests)
    assert exports.export_status(case)["state"] == "ready"
    page.reload()
    article = page.locator(f"#case-{case.pk}")
    assert "The download works once" in article.inner_text()
    page.screenshot(path=str(artifacts / "export-01-ready.png"), full_page=True)
    with page.expect_response(re.compile(r".*/download$")) as answer, page.expect_download() as first:
        page.click(f"#case-{case.pk} button:has-text('Download your data')")
    headers = answer.value.headers
    assert headers["cache-control"] == "no-store" and headers["referrer-policy"] == "no-referrer"
    assert headers["content-disposition"].startswith("attachment")
    with zipfile.ZipFile(first.value.path()) as zf:
        assert any(n.endswith("manifest.json") for n in zf.namelist())
    # Sent again (a replayed form, a second tab): refused.
    with page.expect_navigation():
        page.evaluate(f"""() => {{ const f = document.createElement('form'); f.method = 'post';
            f.action = '/status/cases/{case.pk}/download';
            f.innerHTML = document.querySelector('input[name=csrfmiddlewaretoken]').outerHTML;
            document.body.appendChild(f); f.submit(); }}""")
    assert "This download was already used or has expired" in page.locator("main").inner_text()
    page.screenshot(path=str(artifacts / "export-02-second-download-refused.png"), full_page=True)
    page.goto(base + "/status/")
    assert "You already downloaded your data." in page.locator(f"#case-{case.pk}").inner_text()
    assert page.locator(f"#case-{case.pk} button:has-text('Download your data')").count() == 0
    assert exports.export_status(case)["downloads"] == 1
