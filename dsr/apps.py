from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class DsrConfig(AppConfig):
    name = "dsr"
    verbose_name = "dsr — data-subject rights"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dsr import checks  # noqa: F401  (registers system checks)


class DsrAdminConfig(AdminConfig):
    """The admin with dsr's site (dsr/adminsite.py): entered by approvers and superusers, through the console's
    sign-in (lockout, second factor), never through a login form of its own."""

    default_site = "dsr.adminsite.DsrAdminSite"
