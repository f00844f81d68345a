"""The subject's rows in django-q2's tables (issue 9 §2; security.md "django-q2 facts").

django-q2 keeps task arguments, results and failure tracebacks forever, pickled (base64, not encrypted), in
``django_q_task``; queued tasks sit signed in ``django_q_ormq``; schedules keep their arguments as text. dsr's own
jobs take ids only, but a failed task's traceback can quote anything a library put in its message. So an erasure
decodes every such row and removes those that mention the subject: one of its ids, or its e-mail address or
account id. Queued dsr jobs are left alone: they carry ids only and are the work still to be done.
"""

from __future__ import annotations

import pickle
import re
from base64 import b64decode
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db import connection

UUID_RE = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
OWN_JOBS = "dsr.jobs."


@dataclass
class Needles:
    """What marks a row as the subject's: ids (compared as 32 hex digits) and identifiers (lower case)."""

    ids: set[str] = field(default_factory=set)
    texts: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, ids: Iterable[object], texts: Iterable[str]) -> Needles:
        return cls({str(i).replace("-", "").lower() for i in ids if i},
                   sorted({t.strip().lower() for t in texts if t and len(t.strip()) >= 3}))

    def __bool__(self) -> bool:
        return bool(self.ids or self.texts)

    def found_in(self, text: str) -> bool:
        low = text.lower()
        if any(t in low for t in self.texts):
            return True
        return any(m.replace("-", "") in self.ids for m in UUID_RE.findall(low))


def _unpickle(raw: str | None) -> str:
    if not raw:
        return ""
    try:
        return repr(pickle.loads(b64decode(raw.encode())))  # noqa: S301 - django-q2's own rows, decoded to read them
    except Exception:  # noqa: BLE001 - an undecodable row is still searched as it is stored
        return raw


def _unsign(payload: str) -> str:
    from django_q.signing import SignedPackage

    try:
        return repr(SignedPackage.loads(payload))
    except Exception:  # noqa: BLE001
        return payload


def _rows(sql: str) -> Iterator[tuple]:
    with connection.cursor() as cur:
        cur.execute(sql)
        while batch := cur.fetchmany(500):
            yield from batch


def matching(needles: Needles) -> dict[str, list[str]]:
    """Keys of the rows that mention the subject, per table (``task``, ``ormq``, ``schedule``)."""
    from django_q.models import OrmQ, Schedule, Task

    found: dict[str, list[str]] = {"task": [], "ormq": [], "schedule": []}
    if not needles:
        return found
    qn = connection.ops.quote_name
    t = Task._meta.db_table
    for pk, name, func, group, args, kwargs, result in _rows(
            f"SELECT id, name, func, {qn('group')}, args, kwargs, result FROM {qn(t)}"):  # noqa: S608
        text = " ".join([pk or "", name or "", func or "", group or "", _unpickle(args), _unpickle(kwargs),
                         _unpickle(result)])
        if needles.found_in(text):
            found["task"].append(pk)
    for pk, key, payload in _rows(f"SELECT id, {qn('key')}, payload FROM {qn(OrmQ._meta.db_table)}"):  # noqa: S608
        text = _unsign(payload)
        if f"'func': '{OWN_JOBS}" in text or f'"func": "{OWN_JOBS}' in text:
            continue
        if needles.found_in(f"{key} {text}"):
            found["ormq"].append(str(pk))
    for pk, name, func, args, kwargs in _rows(
            f"SELECT id, name, func, args, kwargs FROM {qn(Schedule._meta.db_table)}"):  # noqa: S608
        if needles.found_in(" ".join(str(v or "") for v in (name, func, args, kwargs))):
            found["schedule"].append(str(pk))
    return found


def scrub(needles: Needles) -> dict[str, int]:
    """Delete the rows that mention the subject; returns how many per table. Safe to run again."""
    from django_q.models import OrmQ, Schedule, Task

    found = matching(needles)
    return {
        "task_rows": Task.objects.filter(pk__in=found["task"]).delete()[0] if found["task"] else 0,
        "queued_rows": OrmQ.objects.filter(pk__in=found["ormq"]).delete()[0] if found["ormq"] else 0,
        "schedule_rows": Schedule.objects.filter(pk__in=found["schedule"]).delete()[0] if found["schedule"] else 0,
    }
