"""The package's index.html opened from disk in a real browser with the network blocked (issue 10 acceptance):
the report is there, every photo renders from the package's own files, those files are byte-identical to what the
vault returns, a hostile caption shows as text and runs nothing, and the page asks the network for nothing."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import time_machine

from dsr import exports, steps, vault
from dsr.models import ExportPackage
from tests import export_world
from tests.export_world import HOSTILE_CAPTION, T0

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def test_index_html_works_offline_shows_the_vaults_media_and_runs_no_caption(page, tmp_path: Path):
    world = export_world.build()
    now = T0 + timedelta(days=2)
    with time_machine.travel(now, tick=False):
        run = exports.start_export(world.case, actor="test", now=now)
        steps.advance(run.pk)
    package = ExportPackage.objects.get(case=world.case)
    root = tmp_path / "unzipped"
    with zipfile.ZipFile(io.BytesIO(b"".join(exports.open_package(package)))) as z:
        z.extractall(root)
    items = {r["id"]: r for r in json.loads((root / "data/items.json").read_text())["items"]}

    network: list[str] = []
    dialogs: list[str] = []

    def block(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            network.append(route.request.url)
            route.abort()

    page.route("**/*", block)
    page.on("request", lambda r: None if r.url.startswith("file://") else network.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto((root / "index.html").as_uri())
    page.wait_for_load_state("load")
    for img in page.locator("ul.files img").all():  # lazy-loaded: bring each into view and let it load
        img.scroll_into_view_if_needed()
    page.wait_for_function("() => [...document.images].every(i => i.complete)")

    assert "The personal data we hold about you" in page.locator("h1").first.inner_text()
    assert page.locator("#recipients").inner_text().count("FaceModel Inference Inc.") >= 1
    assert page.title() != "PWNED" and dialogs == []
    assert page.locator("script").count() == 0
    assert HOSTILE_CAPTION in page.locator(f"#item-{world.ana_photo.pk}").inner_text()  # shown as text

    images = page.evaluate(
        "() => [...document.querySelectorAll('ul.files img')].map(i => [i.currentSrc, i.complete, i.naturalWidth])")
    photos = [world.ana_photo, world.ana_photo2, world.cleo_photo_of_ana]
    assert len(images) == len(photos)
    shown = {}
    for src, complete, width in images:
        assert src.startswith("file://") and complete and width > 0, src  # rendered from the package's file
        shown[Path(unquote(urlparse(src).path))] = True
    for item in photos:
        path = (root / items[str(item.pk)]["file"]).resolve()
        assert path in {p.resolve() for p in shown}
        assert path.read_bytes() == vault.read_item(item)  # byte-identical to the vault
    video_src = page.locator(f"#item-{world.video.pk} video").get_attribute("src")
    assert (root / video_src).read_bytes() == vault.read_item(world.video)

    assert network == []  # nothing asked of a network, not even by the hostile caption's <img src=x>
