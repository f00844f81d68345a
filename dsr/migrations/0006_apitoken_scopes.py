from django.db import migrations, models

# The scopes that existed when scopes were introduced. Tokens minted before then could do all of this,
# so they keep exactly that and nothing added later (least privilege for anything new).
SCOPES_AT_INTRODUCTION = ["cases:read", "cases:write", "content:read", "vault:read", "vault:write"]


def grant_existing(apps, schema_editor):
    ApiToken = apps.get_model("dsr", "ApiToken")
    ApiToken.objects.all().update(scopes=SCOPES_AT_INTRODUCTION)


class Migration(migrations.Migration):

    dependencies = [
        ("dsr", "0005_dataitem_blob_name_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="scopes",
            field=models.JSONField(blank=True, default=list, help_text="Scope names from dsr/scopes.py."),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(grant_existing, migrations.RunPython.noop),
    ]
