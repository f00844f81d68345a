"""Breach scoping reads holdings only (dsr/breach_scope.py): each holding gets copies of its item's category,
purpose, storage, creation and purge, filled here from the items, and two partial indexes that make an incident's
holdings one index range; the item-side scoping indexes of 0019 go.

The fill is one UPDATE … FROM, which rewrites every holding row: at 10 M holdings on PostgreSQL, a few minutes
and, until the next VACUUM, twice the table's size (bench/breach.py --reuse runs it on its seeded vault)."""

from django.db import migrations, models

# The vault's rule for where content went, as it stood when this migration was written (dsr/vault.py
# INLINE_CATEGORIES, INLINE_LIMIT): a purged item's blob name is blank, so for it the rule says where it was.
INLINE_CATEGORIES = ("account_profile", "consent_record", "face_embedding", "ip_log", "preferences",
                     "upload_metadata")
INLINE_LIMIT = 64 * 1024


def fill(apps, schema_editor):
    Holding = apps.get_model("dsr", "Holding")
    DataItem = apps.get_model("dsr", "DataItem")
    h, i = Holding._meta.db_table, DataItem._meta.db_table
    q = schema_editor.quote_name
    inline = ", ".join("%s" for _ in INLINE_CATEGORIES)
    schema_editor.execute(
        f"""UPDATE {q(h)} SET item_category = i.category, item_purpose = i.purpose,
                item_in_blob = (i.blob_name <> '' OR (i.purged_at IS NOT NULL AND i.stored_size > 0
                                AND NOT (i.category IN ({inline}) AND i.size <= %s))),
                item_created_at = i.created_at, item_purged_at = i.purged_at
            FROM {q(i)} i WHERE i.id = {q(h)}.item_id""",
        [*INLINE_CATEGORIES, INLINE_LIMIT],
    )


class Migration(migrations.Migration):

    dependencies = [
        ('dsr', '0022_outbound_attachment'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='dataitem',
            name='dataitem_scope_live',
        ),
        migrations.RemoveIndex(
            model_name='dataitem',
            name='dataitem_scope_purged',
        ),
        migrations.AddField(
            model_name='holding',
            name='item_category',
            field=models.CharField(blank=True, default='', max_length=32),
        ),
        migrations.AddField(
            model_name='holding',
            name='item_created_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='holding',
            name='item_in_blob',
            field=models.BooleanField(default=False, help_text='The content was sealed into blob storage.'),
        ),
        migrations.AddField(
            model_name='holding',
            name='item_purged_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='holding',
            name='item_purpose',
            field=models.CharField(blank=True, default='', max_length=64),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name='holding',
            index=models.Index(condition=models.Q(('item_purged_at__isnull', True)), fields=['item_category', 'item_created_at'], include=('subject', 'item', 'item_purpose', 'item_in_blob'), name='holding_scope_live'),
        ),
        migrations.AddIndex(
            model_name='holding',
            index=models.Index(condition=models.Q(('item_purged_at__isnull', False)), fields=['item_category', 'item_purged_at', 'item_created_at'], include=('subject', 'item', 'item_purpose', 'item_in_blob'), name='holding_scope_purged'),
        ),
    ]
