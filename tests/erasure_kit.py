"""Shared pieces of the erasure tests: a real local webhook receiver (a downstream recipient), a subject with
photos, an embedding, thumbnails and a two-person video, and helpers to file and run an erasure."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.utils import timezone

from dsr import erasure, steps, vault, webhooks, workflow
from dsr.models import Case, DataItem, Holding, Recipient, StepRun, Subject
from tests import factories


class Receiver:
    """A downstream recipient's webhook endpoint on 127.0.0.1: records every request and checks its signature
    with the secret it was given. ``down()`` closes the port (connection refused); ``up()`` opens it again."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.secrets: dict[str, bytes] = {}  # recipient name → secret, to verify what arrives
        self.status = 200
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                record = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body,
                          "json": json.loads(body or b"null"), "received_at": timezone.now()}
                with receiver._lock:
                    receiver.requests.append(record)
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def verified(self, secret: bytes) -> list[dict[str, Any]]:
        """The requests whose signature verifies under ``secret`` when they arrived (replay window included)."""
        out = []
        for r in self.requests:
            h = r["headers"]
            try:
                webhooks.verify(secret, timestamp=h.get(webhooks.HEADER_TIMESTAMP.lower()),
                                signature_header=h.get(webhooks.HEADER_SIGNATURE.lower()), body=r["body"],
                                now=r["received_at"])
            except webhooks.BadSignature:
                continue
            out.append(r)
        return out


def point_recipients_at(receiver: Receiver, *, names: list[str] | None = None) -> dict[str, bytes]:
    """Give recipients a webhook to the receiver and a fresh secret; returns name → secret bytes."""
    out = {}
    for r in Recipient.objects.all():
        if names is not None and r.name not in names:
            continue
        text = webhooks.set_webhook(r, url=receiver.url, new_secret=True, actor="test", now=timezone.now())
        out[r.name] = webhooks.decode_secret(text)
    receiver.secrets.update(out)
    return out


@dataclass
class World:
    """Alice (to be erased) and Bob: Alice's photos, an embedding and a thumbnail of one, Bob's own photo, and a
    video generated from Alice's and Bob's photos."""

    alice: Subject
    bob: Subject
    alice_photos: list[DataItem] = field(default_factory=list)
    embedding: DataItem | None = None
    thumbnail: DataItem | None = None
    bob_photo: DataItem | None = None
    video: DataItem | None = None
    video_of_embedding: DataItem | None = None


def build_world(now: datetime, *, alice_email: str = "alice@example.com", bob_email: str = "bob@example.com",
                alice_account: str | None = None, marker: str = "") -> World:
    alice = factories.subject(alice_email, account_id=alice_account, now=now)
    bob = factories.subject(bob_email, now=now)
    w = World(alice=alice, bob=bob)
    w.alice_photos = [factories.photo_item(alice, now=now, seed=i) for i in range(2)]
    w.bob_photo = factories.photo_item(bob, now=now, seed=9)
    w.embedding = vault.store_item(vault.NewItem(
        category="face_embedding", purpose="face_matching", holders=[], derived_from=[w.alice_photos[0]],
        content=b"\x00\x01embedding" + marker.encode(), content_type="application/octet-stream"), actor="t", now=now)
    w.thumbnail = factories.derived_item([w.alice_photos[1]], category="thumbnail", now=now,
                                         content=b"thumb" + marker.encode())
    w.video = factories.derived_item([w.alice_photos[0], w.bob_photo], now=now, content=b"two-person video")
    w.video_of_embedding = factories.derived_item([w.embedding], now=now, content=b"video from the embedding")
    return w


def erasure_case(subject: Subject, now: datetime, *, regimes: tuple[str, ...] = ("eu_gdpr",),
                 details: str = "") -> Case:
    case, _ = workflow.submit_case(kind="erasure", regimes=list(regimes), subject=subject, received_at=now,
                                   actor="test", now=now, details=details)
    return workflow.verify_identity(case, method="account_reauth", actor=staff("op"), now=now)


def staff(name: str, role: str = "operator"):
    from dsr.roles import Role, create_staff

    return create_staff(f"{name}-t", "pw-for-tests-only", Role(role), email=f"{name}-t@example.com")


def run_to_end(run: StepRun, *, now: datetime | None = None, rounds: int = 12) -> StepRun:
    """Advance the run in this process, jumping past its grace window and any back-off, until it ends."""
    import time_machine

    start = now or timezone.now()
    for i in range(rounds):
        with time_machine.travel(start + timedelta(days=3, minutes=10 * i), tick=True):
            steps.advance(run.pk)
        run.refresh_from_db()
        if run.state in ("done", "cancelled"):
            break
    return run


def holdings_of(subject: Subject) -> set:
    return set(Holding.objects.filter(subject=subject).values_list("item_id", flat=True))


def approve(case: Case, now: datetime, **kw: Any) -> StepRun:
    return erasure.approve_erasure(case, actor=staff("op"), now=now, **kw)


def leaky_job(subject_id: str) -> None:
    """A job that fails with a library error quoting personal data: django-q2 keeps its traceback in the clear."""
    from dsr.models import Subject as S

    subject = S.objects.get(pk=subject_id)
    raise ValueError(f"could not reach {subject.email} ({subject.account_id})")


def many_items(subject: Subject, now: datetime, n: int, *, size: int = 2048) -> list[DataItem]:
    """Blob-stored items of the subject (generated videos), quick to make in numbers."""
    return [vault.store_item(vault.NewItem(category="generated_video", purpose="photo_generation",
                                           holders=[(subject, Holding.Role.OWNER)],
                                           content=bytes([i % 251]) * size, content_type="video/mp4"),
                             actor="t", now=now) for i in range(n)]
