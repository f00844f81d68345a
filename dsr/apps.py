from django.apps import AppConfig


class DsrConfig(AppConfig):
    name = "dsr"
    verbose_name = "dsr — data-subject rights"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dsr import checks  # noqa: F401  (registers system checks)
