"""REME_DATABASE__CITUS: when the schema is laid out for Citus."""

from __future__ import annotations

import pytest

from app.citus import CitusMissing, use_citus
from app.errors import SchemaMismatch
from app.settings import Settings


def test_auto_follows_the_extension() -> None:
    assert use_citus("auto", installed=True) is True
    assert use_citus("auto", installed=False) is False


def test_off_ignores_an_installed_extension() -> None:
    assert use_citus("off", installed=True) is False


def test_on_without_the_extension_is_refused_naming_the_setting() -> None:
    with pytest.raises(CitusMissing, match="REME_DATABASE__CITUS=on") as refused:
        use_citus("on", installed=False)

    assert isinstance(refused.value, SchemaMismatch)  # start-up refuses it without a traceback


def test_the_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REME_DATABASE__CITUS", "on")
    monkeypatch.setenv("REME_DATABASE__READ_URL", "postgresql://replica/reme")

    settings = Settings(_env_file=None)

    assert settings.database.citus == "on"
    assert settings.database.read_url == "postgresql://replica/reme"
