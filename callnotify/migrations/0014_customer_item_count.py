"""Each customer's number of call notify items, kept by the database itself.

The per-customer limit (docs/api.md §5) used to be checked in a transaction: hold the customer's
row, count its items, insert: five round trips for a create against one. With the count in a
column of the customer's row, a create is one statement (callnotify.models.add_within_limit):
`INSERT … SELECT … FROM accounts_customer WHERE id = … AND callnotify_items < limit`, which on
PostgreSQL locks that row (FOR NO KEY UPDATE) and, having waited for a concurrent create,
checks the condition again against the count that create left; SQLite runs a write statement
under its one write lock.

The column is the database's alone: no model declares it, so `Customer.save()` (the admin's, a
script's) can never write back a count it read earlier. Triggers keep it for every way a row
is added, removed or moved to another customer (the API, the admin, a cascade, raw SQL).

SQLite: a later migration that alters `callnotify_callnotify` makes the table again (Django's
way on SQLite), which drops its triggers; one that alters `accounts_customer` drops the column.
tests/callnotify/test_limits.py fails in either case; make them again in that migration.
"""

from django.db import migrations

COUNT = ("UPDATE accounts_customer SET callnotify_items = (SELECT COUNT(*) FROM callnotify_callnotify i"
         " WHERE i.customer_id = accounts_customer.id)")

POSTGRESQL = [
    "ALTER TABLE accounts_customer ADD COLUMN callnotify_items integer NOT NULL DEFAULT 0",
    COUNT,
    """CREATE FUNCTION callnotify_count_items() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE accounts_customer SET callnotify_items = callnotify_items - 1 WHERE id = OLD.customer_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE accounts_customer SET callnotify_items = callnotify_items + 1 WHERE id = NEW.customer_id;
    END IF;
    RETURN NULL;
END
$$""",
    "CREATE TRIGGER callnotify_count_items AFTER INSERT OR DELETE ON callnotify_callnotify"
    " FOR EACH ROW EXECUTE FUNCTION callnotify_count_items()",
    "CREATE TRIGGER callnotify_count_moved AFTER UPDATE OF customer_id ON callnotify_callnotify"
    " FOR EACH ROW WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id) EXECUTE FUNCTION callnotify_count_items()",
]
POSTGRESQL_BACK = [
    "DROP TRIGGER callnotify_count_moved ON callnotify_callnotify",
    "DROP TRIGGER callnotify_count_items ON callnotify_callnotify",
    "DROP FUNCTION callnotify_count_items()",
    "ALTER TABLE accounts_customer DROP COLUMN callnotify_items",
]

_ADD = "UPDATE accounts_customer SET callnotify_items = callnotify_items + 1 WHERE id = NEW.customer_id;"
_REMOVE = "UPDATE accounts_customer SET callnotify_items = callnotify_items - 1 WHERE id = OLD.customer_id;"
SQLITE = [
    "ALTER TABLE accounts_customer ADD COLUMN callnotify_items integer NOT NULL DEFAULT 0",
    COUNT,
    f"CREATE TRIGGER callnotify_count_added AFTER INSERT ON callnotify_callnotify BEGIN {_ADD} END",
    f"CREATE TRIGGER callnotify_count_removed AFTER DELETE ON callnotify_callnotify BEGIN {_REMOVE} END",
    "CREATE TRIGGER callnotify_count_moved AFTER UPDATE OF customer_id ON callnotify_callnotify"
    f" WHEN OLD.customer_id IS NOT NEW.customer_id BEGIN {_REMOVE} {_ADD} END",
]
SQLITE_BACK = [
    "DROP TRIGGER callnotify_count_moved",
    "DROP TRIGGER callnotify_count_removed",
    "DROP TRIGGER callnotify_count_added",
    "ALTER TABLE accounts_customer DROP COLUMN callnotify_items",
]


def _run(statements: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        for sql in statements[schema_editor.connection.vendor]:
            schema_editor.execute(sql, params=None)
    return run


class Migration(migrations.Migration):
    dependencies = [("callnotify", "0013_claim_order_index"), ("accounts", "0005_customer_callnotify_limit")]
    operations = [migrations.RunPython(_run({"postgresql": POSTGRESQL, "sqlite": SQLITE}),
                                       _run({"postgresql": POSTGRESQL_BACK, "sqlite": SQLITE_BACK}))]
