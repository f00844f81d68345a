from django.db import migrations


def seed(apps, schema_editor):
    from dsr.register_seed import seed_register

    seed_register(apps.get_model("dsr", "Recipient"), apps.get_model("dsr", "CategoryPolicy"),
                  apps.get_model("dsr", "ProcessingActivity"))


class Migration(migrations.Migration):
    dependencies = [("dsr", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
