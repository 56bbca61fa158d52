"""The one routing marker row exists from the start, so concurrent first changes only update it."""

from django.db import migrations


def create_marker(apps, schema_editor) -> None:
    apps.get_model("sbcrules", "RoutingMarker").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("sbcrules", "0001_initial")]

    operations = [migrations.RunPython(create_marker, migrations.RunPython.noop)]
