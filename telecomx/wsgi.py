"""WSGI entry point."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telecomx.settings")
application = get_wsgi_application()

from telecomx.startup import make_data_dirs  # noqa: E402  (needs the settings loaded)

make_data_dirs()

# With no CELERY_BROKER_URL this process delivers call events itself (docs/callevents.md §6).
from callnotify import runner  # noqa: E402

runner.start()
