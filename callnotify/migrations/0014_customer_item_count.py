"""PostgreSQL: each customer's number of call notify items, kept by the database itself.

The per-customer limit (docs/api.md §5) used to be checked in a transaction: hold the customer's
row, count its items, insert: five round trips for a create against one. With the count in a
column of the customer's row, a create is one statement (callnotify.models.add_within_limit):
`INSERT … SELECT … FROM accounts_customer WHERE id = … AND callnotify_items < limit FOR NO KEY
UPDATE`, which, having waited for a concurrent create, checks the condition again against the
count that create left.

The column is the database's alone: no model declares it, so `Customer.save()` (the admin's, a
script's) can never write back a count it read earlier. Triggers keep it for every way a row
is added, removed or moved to another customer (the API, the admin, a cascade, raw SQL); the
table is locked from before they exist until the count is taken, so a write of the running
code during the deploy is counted once.

SQLite gets neither: it runs one write statement at a time, so the create counts the items in
its own statement, and triggers there would break Django's way of altering a table later
(making it again and renaming it, which checks every trigger naming it).
"""

from django.db import migrations

from core.db import on_postgresql

POSTGRESQL = [
    "ALTER TABLE accounts_customer ADD COLUMN callnotify_items integer NOT NULL DEFAULT 0",
    "LOCK TABLE callnotify_callnotify IN SHARE ROW EXCLUSIVE MODE",
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
    "UPDATE accounts_customer SET callnotify_items = (SELECT COUNT(*) FROM callnotify_callnotify i"
    " WHERE i.customer_id = accounts_customer.id)",
]
POSTGRESQL_BACK = [
    "DROP TRIGGER callnotify_count_moved ON callnotify_callnotify",
    "DROP TRIGGER callnotify_count_items ON callnotify_callnotify",
    "DROP FUNCTION callnotify_count_items()",
    "ALTER TABLE accounts_customer DROP COLUMN callnotify_items",
]


class Migration(migrations.Migration):
    dependencies = [("callnotify", "0013_claim_order_index"), ("accounts", "0005_customer_callnotify_limit")]
    operations = [on_postgresql(POSTGRESQL, POSTGRESQL_BACK)]
