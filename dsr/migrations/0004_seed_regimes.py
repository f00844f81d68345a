from django.db import migrations

REGIMES = [
    ("eu_gdpr", "EU GDPR", "The lead supervisory authority of the controller's Member State"),
    ("uk_gdpr", "UK GDPR", "Information Commissioner's Office (ico.org.uk)"),
    ("ccpa", "CCPA/CPRA", "California Privacy Protection Agency (cppa.ca.gov)"),
]


def seed(apps, schema_editor):
    RegimeDefinition = apps.get_model("dsr", "RegimeDefinition")
    for code, name, authority in REGIMES:
        RegimeDefinition.objects.get_or_create(code=code, defaults={"name": name, "authority": authority})


class Migration(migrations.Migration):
    dependencies = [("dsr", "0003_cases")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
