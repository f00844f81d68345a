"""Keyed audit chain: a scheme per event (existing events stay plain SHA-256, verified as a prefix that the
first keyed event anchors), and on PostgreSQL a trigger that refuses UPDATE and DELETE on the event table."""

from django.db import migrations, models

FORBID = """
CREATE OR REPLACE FUNCTION dsr_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'dsr_event is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
DROP TRIGGER IF EXISTS dsr_event_append_only ON dsr_event;
CREATE TRIGGER dsr_event_append_only BEFORE UPDATE OR DELETE ON dsr_event
    FOR EACH ROW EXECUTE FUNCTION dsr_event_append_only();
"""
ALLOW = """
DROP TRIGGER IF EXISTS dsr_event_append_only ON dsr_event;
DROP FUNCTION IF EXISTS dsr_event_append_only();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("dsr", "0007_case_clock")]

    operations = [
        migrations.AddField(model_name="event", name="scheme", field=models.CharField(default="sha256", max_length=16)),
        migrations.AlterField(
            model_name="event", name="scheme", field=models.CharField(default="hmac-sha256", max_length=16)
        ),
        migrations.RunPython(_on_postgresql(FORBID), _on_postgresql(ALLOW)),
    ]
