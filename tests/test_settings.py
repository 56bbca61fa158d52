"""telecomx/settings.py: a bad value names its variable; importing the settings writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from telecomx.settings import env_bool, env_float, env_int

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("helper", "value"), [(env_float, "fast"), (env_float, "nan"), (env_float, "inf"), (env_int, "1.5"), (env_bool, "maybe")])
def test_a_bad_value_names_the_variable(monkeypatch, helper, value):
    monkeypatch.setenv("TELECOMX_TEST_VALUE", value)
    with pytest.raises(ImproperlyConfigured, match=f"TELECOMX_TEST_VALUE must be .*'{value}'"):
        helper("TELECOMX_TEST_VALUE", 1)


def test_numbers_of_seconds_may_have_a_fraction(monkeypatch):
    monkeypatch.setenv("TELECOMX_TEST_VALUE", "0.25")
    assert env_float("TELECOMX_TEST_VALUE", 1) == 0.25
    monkeypatch.setenv("TELECOMX_TEST_VALUE", "")
    assert env_float("TELECOMX_TEST_VALUE", 1.5) == 1.5


def test_a_bad_float_setting_stops_the_process_naming_it(tmp_path):
    env = {**os.environ, "TELECOMX_DATA_DIR": str(tmp_path / "data"), "ROUTING_CHECK_INTERVAL": "soon"}
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "ROUTING_CHECK_INTERVAL must be a number, not 'soon'" in result.stderr


def test_importing_the_settings_writes_nothing(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "TELECOMX_DATA_DIR": str(data), "DJANGO_SETTINGS_MODULE": "telecomx.settings"}
    for name in ("DATABASE_URL", "SECRET_KEY", "STATIC_ROOT"):
        env.pop(name, None)
    code = "import django; django.setup(); from django.conf import settings; settings.DATABASES; settings.STATIC_ROOT"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=60)
    assert not data.exists()
    subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)
    assert (data / "static").is_dir()  # made by the process that starts (manage.py here)
    sign = "import django; django.setup(); from django.core.signing import Signer; print(Signer().sign(\"x\"))"
    first = subprocess.run([sys.executable, "-c", sign], cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=60)
    assert (data / "secret_key").is_file()  # made when the key was first used, then kept
    second = subprocess.run([sys.executable, "-c", sign], cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=60)
    assert first.stdout == second.stdout  # the same key in every process


def test_the_local_secret_key_is_made_once_when_threads_ask_together(tmp_path, monkeypatch) -> None:
    """A fresh process's first requests ask for it from several threads at once (a 500 once)."""
    import threading

    from telecomx import settings as module

    monkeypatch.setattr(module, "DATA_DIR", tmp_path)
    module._local_secret_key.cache_clear()
    barrier, keys, errors = threading.Barrier(16), [], []

    def ask() -> None:
        barrier.wait()
        try:
            keys.append(module._local_secret_key())
        except Exception as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    module._local_secret_key.cache_clear()
    assert errors == []
    assert set(keys) == {(tmp_path / "secret_key").read_text().strip()}
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no temporary file left behind
