"""tcp and udp endpoints can no longer have a signing secret (it was never used: those
deliveries carry no headers). Secrets stored on such endpoints before are removed, so that
updating them does not fail on a value the client never saw again."""

from django.db import migrations
from django.db.models import Q


def drop_unusable_secrets(apps, schema_editor):
    CallNotify = apps.get_model("callnotify", "CallNotify")
    CallNotify.objects.filter(Q(url__istartswith="tcp:") | Q(url__istartswith="udp:")).exclude(secret="").update(secret="")


class Migration(migrations.Migration):
    dependencies = [("callnotify", "0005_pipeline")]
    operations = [migrations.RunPython(drop_unusable_secrets, migrations.RunPython.noop)]
