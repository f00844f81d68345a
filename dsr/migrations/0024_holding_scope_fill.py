"""Fill the copies 0023 added to every holding (item facts, the person's residence, the item's first holder), then
build the two partial indexes breach scoping reads (dsr/breach_scope.py), without holding up the vault on a large
installation:

* the fill runs in batches of ``BATCH`` holdings by id, each its own short transaction (row locks on that batch
  only), and skips rows that already carry their copies (``item_created_at`` set: written by the new code since, or
  by an earlier, interrupted run), so it can be stopped and run again;
* on PostgreSQL each index is built with CREATE INDEX CONCURRENTLY (writers go on while it builds); an invalid index
  left by an interrupted build is dropped first. Elsewhere (SQLite) a plain CREATE INDEX.

This migration is therefore not atomic: each step commits on its own, and every step is safe to repeat."""

from django.db import migrations, models, transaction

BATCH = 50_000
# The vault's rule for where content went, as it stood when this migration was written (dsr/vault.py
# INLINE_CATEGORIES, INLINE_LIMIT): a purged item's blob name is blank, so for it the rule says where it was.
INLINE_CATEGORIES = ("account_profile", "consent_record", "face_embedding", "ip_log", "preferences",
                     "upload_metadata")
INLINE_LIMIT = 64 * 1024


def fill(apps, schema_editor) -> None:
    Holding = apps.get_model("dsr", "Holding")
    DataItem = apps.get_model("dsr", "DataItem")
    Subject = apps.get_model("dsr", "Subject")
    connection = schema_editor.connection
    q = connection.ops.quote_name
    h, i, s = q(Holding._meta.db_table), q(DataItem._meta.db_table), q(Subject._meta.db_table)
    inline = ", ".join("%s" for _ in INLINE_CATEGORIES)
    sql = f"""UPDATE {h} SET item_category = i.category, item_purpose = i.purpose,
                  item_in_blob = (i.blob_name <> '' OR (i.purged_at IS NOT NULL AND i.stored_size > 0
                                  AND NOT (i.category IN ({inline}) AND i.size <= %s))),
                  item_created_at = i.created_at, item_purged_at = i.purged_at, subject_residence = s.residence,
                  item_first = NOT EXISTS (SELECT 1 FROM {h} other
                                           WHERE other.item_id = {h}.item_id AND other.id < {h}.id)
              FROM {i} i, {s} s
              WHERE i.id = {h}.item_id AND s.id = {h}.subject_id
                AND {h}.id >= %s AND {h}.id < %s AND {h}.item_created_at IS NULL"""
    with connection.cursor() as cur:
        cur.execute(f"SELECT MIN(id), MAX(id) FROM {h} WHERE item_created_at IS NULL")
        low, high = cur.fetchone()
    if low is None:
        return
    for start in range(low, high + 1, BATCH):
        with transaction.atomic(using=connection.alias), connection.cursor() as cur:
            cur.execute(sql, [*INLINE_CATEGORIES, INLINE_LIMIT, start, start + BATCH])


class AddIndexOnline(migrations.AddIndex):
    """CREATE INDEX CONCURRENTLY on PostgreSQL, a plain CREATE INDEX elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(self.index.name)}")
            schema_editor.add_index(model, self.index, concurrently=True)
        else:
            schema_editor.add_index(model, self.index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.remove_index(model, self.index, concurrently=True)
        else:
            schema_editor.remove_index(model, self.index)


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('dsr', '0023_holding_scope_copies'),
    ]

    operations = [
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        AddIndexOnline(
            model_name='holding',
            index=models.Index(condition=models.Q(('item_purged_at__isnull', True)), fields=['item_category', 'item_created_at'], include=('subject', 'item', 'item_purpose', 'item_in_blob', 'subject_residence', 'item_first'), name='holding_scope_live'),
        ),
        AddIndexOnline(
            model_name='holding',
            index=models.Index(condition=models.Q(('item_purged_at__isnull', False)), fields=['item_category', 'item_purged_at', 'item_created_at'], include=('subject', 'item', 'item_purpose', 'item_in_blob', 'subject_residence', 'item_first'), name='holding_scope_purged'),
        ),
    ]
