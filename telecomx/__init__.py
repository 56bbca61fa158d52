"""telecomx: the Django project. The Celery app is loaded with Django so tasks can be published."""

from telecomx.celery import app as celery_app

__all__ = ["celery_app"]
