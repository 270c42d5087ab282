"""Without a browser the console tests skip with the reason; the reason names what to install."""

from __future__ import annotations

import pytest

from tests.ui.browser import chromium_path, missing_browser_reason


def test_a_missing_chromium_is_reported_with_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REME_CHROMIUM", "/nonexistent/chromium")

    reason = missing_browser_reason()

    assert chromium_path() is None
    assert reason is not None and "apt-get install -y chromium" in reason
