"""Files in ReMe's formats that the tests read; all inside the repository (see tests/fixtures/reme)."""

from __future__ import annotations

from pathlib import Path

from app.library import LIBRARY

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reme"
# One real agent trajectory from ReMe's cookbook.
TASK_MESSAGES = FIXTURES / "task_messages.json"
# ReMe's task-memory libraries ship with the package (app/library); the tests use those files.
APPWORLD = LIBRARY["appworld"].file
BFCL = LIBRARY["bfcl_v3"].file
