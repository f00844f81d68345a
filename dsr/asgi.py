"""ASGI entry point (uvicorn/daphne dsr.asgi:application). Refuses to load when the system checks find an error."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dsr.settings")
application = get_asgi_application()

from dsr.checks import refuse_to_start_if_misconfigured  # noqa: E402  (needs the apps loaded above)

refuse_to_start_if_misconfigured()
