"""The claim's plans, whatever the statistics (tests/callnotify/test_claims.py): the due index no
longer serves the order check, and `state` has no statistics to go stale."""

from django.db import migrations, models


def no_state_statistics(apps, schema_editor):  # type: ignore[no-untyped-def]
    """The claim's probes must not follow the share of PENDING rows a past ANALYZE saw: after a quiet
    hour it saw none, PostgreSQL estimated one row for every PENDING probe and read whole index
    ranges. Without statistics on `state`, a PENDING probe is planned at the default share, and
    the partial indexes and their first-row probes win."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE callnotify_delivery ALTER COLUMN state SET STATISTICS 0")
        # ANALYZE leaves a column's old statistics when it stops gathering them; "changing" the
        # column to its own type drops them (no rewrite: the type is the same).
        schema_editor.execute("ALTER TABLE callnotify_delivery ALTER COLUMN state TYPE varchar(9)")


def state_statistics(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE callnotify_delivery ALTER COLUMN state SET STATISTICS -1")


class Migration(migrations.Migration):

    dependencies = [
        ('callnotify', '0012_delivery_autovacuum'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='delivery',
            name='delivery_pending_endpoint',
        ),
        migrations.AddIndex(
            model_name='delivery',
            index=models.Index(condition=models.Q(('next_attempt_at__isnull', False), ('state', 'PENDING')), fields=['endpoint', 'next_attempt_at'], name='delivery_pending_due'),
        ),
        migrations.RunPython(no_state_statistics, state_statistics),
    ]
