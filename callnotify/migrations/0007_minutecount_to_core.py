# MinuteCount is core's now (core 0001 took it over with its table): callnotify forgets it
# without touching the table. Its content type follows it, so permissions given on it stay.

from django.db import migrations


def content_type_to_core(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="core", model="minutecount").exists():
        ContentType.objects.filter(app_label="callnotify", model="minutecount").update(app_label="core")


def content_type_to_callnotify(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="callnotify", model="minutecount").exists():
        ContentType.objects.filter(app_label="core", model="minutecount").update(app_label="callnotify")


class Migration(migrations.Migration):

    dependencies = [
        ('callnotify', '0006_no_secret_on_tcp_udp'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('core', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='MinuteCount')],
            database_operations=[],
        ),
        migrations.RunPython(content_type_to_core, content_type_to_callnotify),
    ]
