"""PostgreSQL: vacuum and analyze the delivery table after a burst, not after a fifth of it changed.

The claim's plans do not depend on statistics (callnotify/delivery.py), but its index-only probes
read the heap until a vacuum marks pages all-visible, and the sweep's and metrics' queries plan better
with fresh statistics. A fan-out of 100,000 deliveries should be vacuumed and analyzed within a minute.
"""

from django.db import migrations

TUNED = ("autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_vacuum_scale_factor = 0.02,"
         " autovacuum_analyze_scale_factor = 0.01")
DEFAULTS = "autovacuum_vacuum_insert_scale_factor, autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor"


def tune(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE callnotify_delivery SET ({TUNED})")


def untune(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE callnotify_delivery RESET ({DEFAULTS})")


class Migration(migrations.Migration):
    dependencies = [("callnotify", "0011_pending_claim_indexes")]
    operations = [migrations.RunPython(tune, untune)]
