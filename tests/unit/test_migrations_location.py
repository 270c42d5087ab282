"""The app finds its migrations next to its code: the packaged copy first, the checkout's second."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import app.db
from app.db import CHECKOUT_MIGRATIONS, alembic_config, migrations_dir
from app.settings import Settings


def test_a_checkout_uses_the_top_level_alembic_folder() -> None:
    assert (CHECKOUT_MIGRATIONS / "env.py").is_file()
    assert migrations_dir() == CHECKOUT_MIGRATIONS


def test_an_installed_package_uses_its_own_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    packaged = tmp_path / "app" / "migrations"
    shutil.copytree(CHECKOUT_MIGRATIONS, packaged)
    monkeypatch.setattr(app.db, "PACKAGED_MIGRATIONS", packaged)
    monkeypatch.chdir(tmp_path)

    assert migrations_dir() == packaged
    assert alembic_config(Settings()).get_main_option("script_location") == str(packaged)


def test_missing_migrations_are_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.db, "PACKAGED_MIGRATIONS", tmp_path / "none")
    monkeypatch.setattr(app.db, "CHECKOUT_MIGRATIONS", tmp_path / "alembic")

    with pytest.raises(RuntimeError, match="migrations are missing"):
        migrations_dir()
