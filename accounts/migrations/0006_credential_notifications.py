"""PostgreSQL: every change to what a credential's row reads is told to every web process
(channel `telecomx_credentials`, accounts/revocations.py), at its commit.

- tokens and API keys, updated or deleted: the key's hash (that credential is forgotten);
- employees and customers, updated (in anything a credential carries: a customer's item count,
  kept by callnotify's triggers, is not) or deleted; an account's permissions and groups, and
  a group's permissions, in any way: an empty payload (every credential is forgotten);
- any of these tables truncated: an empty payload.
A row inserted changes no credential already read (a new key is read when first used).

SQLite gets none: it has no notifications, and every request there reads its credential.
"""

from django.db import migrations

from core.db import on_postgresql

CHANNEL = "telecomx_credentials"
KEYS = ["accounts_token", "accounts_apikey"]
PEOPLE = ["accounts_employee", "accounts_customer"]
LINKS = ["accounts_employee_user_permissions", "accounts_employee_groups", "auth_group_permissions"]

POSTGRESQL = [
    f"""CREATE FUNCTION accounts_credential_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'ROW' AND TG_ARGV[0] = 'key' THEN
        PERFORM pg_notify('{CHANNEL}', OLD.key_hash);
    ELSE
        PERFORM pg_notify('{CHANNEL}', '');
    END IF;
    RETURN NULL;
END
$$""",
    *(f"CREATE TRIGGER credential_changed AFTER UPDATE OR DELETE ON {table} FOR EACH ROW"
      f" EXECUTE FUNCTION accounts_credential_changed('key')" for table in KEYS),
    *(f"CREATE TRIGGER credential_changed AFTER UPDATE ON {table} FOR EACH ROW"
      f" WHEN ((to_jsonb(OLD) - 'callnotify_items') IS DISTINCT FROM (to_jsonb(NEW) - 'callnotify_items'))"
      f" EXECUTE FUNCTION accounts_credential_changed('row')" for table in PEOPLE),
    *(f"CREATE TRIGGER credential_deleted AFTER DELETE ON {table} FOR EACH STATEMENT"
      f" EXECUTE FUNCTION accounts_credential_changed('row')" for table in PEOPLE),
    *(f"CREATE TRIGGER credential_changed AFTER INSERT OR UPDATE OR DELETE ON {table} FOR EACH STATEMENT"
      f" EXECUTE FUNCTION accounts_credential_changed('link')" for table in LINKS),
    *(f"CREATE TRIGGER credential_truncated AFTER TRUNCATE ON {table} FOR EACH STATEMENT"
      f" EXECUTE FUNCTION accounts_credential_changed('table')" for table in [*KEYS, *PEOPLE, *LINKS]),
]
POSTGRESQL_BACK = [
    *(f"DROP TRIGGER credential_changed ON {table}" for table in [*KEYS, *PEOPLE, *LINKS]),
    *(f"DROP TRIGGER credential_deleted ON {table}" for table in PEOPLE),
    *(f"DROP TRIGGER credential_truncated ON {table}" for table in [*KEYS, *PEOPLE, *LINKS]),
    "DROP FUNCTION accounts_credential_changed()",
]


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_customer_callnotify_limit"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [on_postgresql(POSTGRESQL, POSTGRESQL_BACK)]
