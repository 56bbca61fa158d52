"""PostgreSQL: a change that may take a credential away also raises NOTICE `telecomx credentials
changed` on the connection that made it (accounts/revocations.py `noticed`), so that a request
that revoked a key, ended a token or disabled an account waits, before it answers, until every
web process has applied it (`settle`). A token's expiry pushed forward (each 30 s of use) takes
nothing away: it is told to the listeners as before, with no NOTICE.

- once per transaction (a transaction-local setting remembers it was raised): a bulk update of
  many rows raises one;
- whatever the session's `client_min_messages` (the function sets it to `notice` for itself):
  a role or URL asking for warnings only would otherwise turn waiting off unseen;
- the triggers fire ALWAYS, also under `session_replication_role = replica` (logical
  replication's apply, tools that turn ordinary triggers off), so that no change goes untold.
"""

from importlib import import_module

from django.db import migrations

from core.db import on_postgresql

# 0006's channel, tables and function (the one migrating back restores).
pushed = import_module("accounts.migrations.0006_credential_notifications")
CHANNEL, KEYS, PEOPLE, LINKS = pushed.CHANNEL, pushed.KEYS, pushed.PEOPLE, pushed.LINKS
NOTICE = "telecomx credentials changed"
TRIGGERS = [
    *(("credential_changed", table) for table in [*KEYS, *PEOPLE, *LINKS]),
    *(("credential_deleted", table) for table in PEOPLE),
    *(("credential_truncated", table) for table in [*KEYS, *PEOPLE, *LINKS]),
]

STRICT = f"""CREATE OR REPLACE FUNCTION accounts_credential_changed() RETURNS trigger LANGUAGE plpgsql
SET client_min_messages = notice AS $$
BEGIN
    IF TG_LEVEL = 'ROW' AND TG_ARGV[0] = 'key' THEN
        PERFORM pg_notify('{CHANNEL}', OLD.key_hash);
        IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'accounts_token' THEN
            IF (to_jsonb(NEW) - 'last_used_at' - 'expires_at') = (to_jsonb(OLD) - 'last_used_at' - 'expires_at')
               AND (NEW.expires_at IS NULL OR NEW.expires_at >= OLD.expires_at) THEN
                RETURN NULL;  -- its expiry pushed forward: nothing taken away
            END IF;
        END IF;
    ELSE
        PERFORM pg_notify('{CHANNEL}', '');
    END IF;
    IF current_setting('telecomx.credentials_noticed', true) IS DISTINCT FROM 'on' THEN
        PERFORM set_config('telecomx.credentials_noticed', 'on', true);
        RAISE NOTICE '{NOTICE}';
    END IF;
    RETURN NULL;
END
$$"""

PUSHED_ONLY = pushed.POSTGRESQL[0].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_credential_notifications")]

    operations = [on_postgresql(
        [STRICT, *(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name}" for name, table in TRIGGERS)],
        [*(f"ALTER TABLE {table} ENABLE TRIGGER {name}" for name, table in TRIGGERS), PUSHED_ONLY],
    )]
