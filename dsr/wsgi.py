"""WSGI entry point (gunicorn dsr.wsgi). Refuses to load when the system checks find an error."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dsr.settings")
application = get_wsgi_application()

from dsr.checks import refuse_to_start_if_misconfigured  # noqa: E402  (needs the apps loaded above)

refuse_to_start_if_misconfigured()
