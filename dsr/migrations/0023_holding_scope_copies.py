"""Breach scoping reads holdings only (dsr/breach_scope.py): each holding gets copies of its item's category,
purpose, storage, creation and purge, its person's residence and whether it is the item's first holder. This
migration only adds the columns (no table rewrite, a moment's lock) and drops the item-side scoping indexes of
0019; 0024 fills the copies in small batches and builds the new indexes without blocking writers."""

from django.db import migrations, models


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
            name='item_first',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='holding',
            name='subject_residence',
            field=models.CharField(blank=True, default='', max_length=8),
        ),
        migrations.AddField(
            model_name='holding',
            name='item_purpose',
            field=models.CharField(blank=True, default='', max_length=64),
        ),
    ]
