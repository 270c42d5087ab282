"""The memory console's presentation: templates, static assets, and the helpers that shape data for them.

Everything the console needs ships inside the package (no CDN), so it works offline.
"""

from __future__ import annotations

from pathlib import Path

UI_DIR = Path(__file__).parent
TEMPLATES_DIR = UI_DIR / "templates"
STATIC_DIR = UI_DIR / "static"
