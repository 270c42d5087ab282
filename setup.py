"""Packaging hook: built packages carry the Alembic migrations as ``app/migrations``.

The migrations' source stays in the top-level ``alembic/`` folder (``alembic upgrade head`` from a
checkout uses it, and so does an editable install). Building a wheel copies that folder into the
package, so an installed service finds its migrations next to its code, from any working directory.
Everything else is configured in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MIGRATIONS_SOURCE = Path("alembic")
MIGRATIONS_TARGET = Path("app") / "migrations"


class BuildPyWithMigrations(build_py):
    """``build_py`` that also copies ``alembic/`` to ``app/migrations`` in the build tree."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install runs the checkout's alembic/ directly
        if not (MIGRATIONS_SOURCE / "env.py").is_file():
            raise SystemExit("alembic/env.py is missing: the package cannot be built without its migrations")
        shutil.copytree(
            MIGRATIONS_SOURCE,
            Path(self.build_lib) / MIGRATIONS_TARGET,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )


setup(cmdclass={"build_py": BuildPyWithMigrations})
