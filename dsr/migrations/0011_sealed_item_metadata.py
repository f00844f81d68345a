"""Item metadata sealed under the item key; the plaintext `source`, `attributes` and `sha256` columns go.
Keys whose old bytes must be purged from the database files are marked (dsr/keystore.py).

Existing items are sealed here with the key ring (fail closed: without the ring the migration stops);
items whose subject key is already destroyed lose their metadata, as erasure intended. The old values stay
in PostgreSQL dead tuples / SQLite free pages until the table is rewritten: README "Upgrading"."""

import json

from django.db import migrations, models


def _key_context(subject_id):
    return f"dsr-subject-key-v1|subject:{subject_id}".encode()


def _meta_aad(item, subject_ids):
    subjects = ",".join(str(s) for s in sorted(subject_ids))
    return (f"dsr-item-v1|item:{item.pk}|subjects:{subjects}|category:{item.category}|purpose:{item.purpose}"
            "|part:meta").encode()


def seal_existing(apps, schema_editor):
    from dsr import crypto
    from dsr.keys import get_keyring

    DataItem = apps.get_model("dsr", "DataItem")
    Holding = apps.get_model("dsr", "Holding")
    SubjectKey = apps.get_model("dsr", "SubjectKey")
    items = DataItem.objects.filter(sealed_meta__isnull=True, purged_at__isnull=True)
    if not items.exists():
        return
    ring = get_keyring()
    keys = {}
    for item in items.iterator(chunk_size=500):
        subject_ids = sorted(Holding.objects.filter(item_id=item.pk).values_list("subject_id", flat=True))
        data_keys = []
        for sid in subject_ids:
            if sid not in keys:
                row = SubjectKey.objects.filter(subject_id=sid).first()
                live = row is not None and row.destroyed_at is None and row.wrapped
                keys[sid] = ring.unwrap(row.wrapped, context=_key_context(sid)) if live else None
            data_keys.append(keys[sid])
        if not subject_ids or any(k is None for k in data_keys):
            continue  # erased: nothing to seal, and the clear columns are dropped below
        key = crypto.derive_item_key(data_keys, item_id=item.pk.bytes)
        meta = json.dumps({"source": item.source, "attributes": item.attributes or {}}, sort_keys=True).encode()
        item.sealed_meta = crypto.seal(key, meta, aad=_meta_aad(item, subject_ids))
        item.save(update_fields=["sealed_meta"])


class Migration(migrations.Migration):
    dependencies = [("dsr", "0010_step_runner")]

    operations = [
        migrations.AddField(model_name="subjectkey", name="purge_pending", field=models.BooleanField(default=False)),
        migrations.AddField(model_name="dataitem", name="sealed_meta", field=models.BinaryField(blank=True, null=True)),
        migrations.RunPython(seal_existing, migrations.RunPython.noop),
        migrations.RemoveField(model_name="dataitem", name="source"),
        migrations.RemoveField(model_name="dataitem", name="attributes"),
        migrations.RemoveField(model_name="dataitem", name="sha256"),
    ]
