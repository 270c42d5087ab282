"""Finding and launching the system's Chromium (Debian's ``chromium`` package) through Playwright.

No browser is ever downloaded: Playwright drives the executable the system provides.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INSTALL_HINT = (
    "install it with `apt-get install -y chromium` (Debian) and `pip install playwright`, "
    "or point REME_CHROMIUM at a Chromium executable"
)


def chromium_path() -> Path | None:
    given = os.environ.get("REME_CHROMIUM")
    if given:
        return Path(given) if Path(given).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def missing_browser_reason() -> str | None:
    """Why the UI tests cannot run here, or None when they can."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return f"the Playwright Python package is not installed: {INSTALL_HINT}"
    if chromium_path() is None:
        return f"no Chromium executable found: {INSTALL_HINT}"
    return None
