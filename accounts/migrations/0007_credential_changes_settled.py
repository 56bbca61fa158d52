"""PostgreSQL: a change that may take a credential away also raises NOTICE `telecomx credentials
changed` on the connection that made it (accounts/revocations.py `noticed`), so that a request
that revoked a key, ended a token or disabled an account waits, before it answers, until every
web process has applied it (`settle`). A token's expiry pushed forward (each 30 s of use) takes
nothing away: it is told to the listeners as before, with no NOTICE.
"""

from django.db import migrations

from core.db import on_postgresql

CHANNEL = "telecomx_credentials"
NOTICE = "telecomx credentials changed"


def function(strict: bool) -> str:
    notice = f"RAISE NOTICE '{NOTICE}';" if strict else ""
    extended = """IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'accounts_token' THEN
            IF (to_jsonb(NEW) - 'last_used_at' - 'expires_at') = (to_jsonb(OLD) - 'last_used_at' - 'expires_at')
               AND (NEW.expires_at IS NULL OR NEW.expires_at >= OLD.expires_at) THEN
                RETURN NULL;
            END IF;
        END IF;""" if strict else ""
    return f"""CREATE OR REPLACE FUNCTION accounts_credential_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'ROW' AND TG_ARGV[0] = 'key' THEN
        PERFORM pg_notify('{CHANNEL}', OLD.key_hash);
        {extended}
    ELSE
        PERFORM pg_notify('{CHANNEL}', '');
    END IF;
    {notice}
    RETURN NULL;
END
$$"""


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_credential_notifications")]

    operations = [on_postgresql([function(strict=True)], [function(strict=False)])]
