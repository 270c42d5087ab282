"""The peer: ReMe 0.1.7 from PyPI in its own virtual environment, created on first use.

    python -m benchmarks.peer [--venv PATH]    # create (if missing) and print the reme binary

The path defaults to ``$REME_PEER_VENV`` or ``benchmarks/.peer-venv``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import venv
from pathlib import Path

PEER_PACKAGES = ["reme-ai==0.1.7", "flowllm==0.1.6", "six"]
DEFAULT_VENV = Path(__file__).resolve().parent / ".peer-venv"


def default_venv() -> Path:
    return Path(os.environ.get("REME_PEER_VENV") or DEFAULT_VENV)


def peer_binary(venv_dir: Path) -> Path:
    return venv_dir / "bin" / "reme"


def has_version(venv_dir: Path, distribution: str, version: str) -> bool:
    """True when the venv's python has ``distribution`` installed at exactly ``version``."""
    python = venv_dir / "bin" / "python"
    if not python.exists():
        return False
    check = f"import importlib.metadata as m; assert m.version({distribution!r}) == {version!r}"
    return subprocess.run([str(python), "-c", check], capture_output=True).returncode == 0


def install_venv(venv_dir: Path, packages: list[str]) -> None:
    """Create (or reuse) the venv and install ``packages`` into it with an up-to-date pip."""
    venv.EnvBuilder(with_pip=True, clear=False).create(venv_dir)
    pip = [str(venv_dir / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *packages], check=True)


def peer_ready(venv_dir: Path) -> bool:
    """True when the venv has a working ``reme_ai`` of the pinned version."""
    return peer_binary(venv_dir).exists() and has_version(venv_dir, "reme-ai", "0.1.7")


def ensure_peer(venv_dir: Path | None = None) -> Path:
    """The ``reme`` binary of the peer, installing the pinned packages when missing."""
    venv_dir = (venv_dir or default_venv()).resolve()
    if peer_ready(venv_dir):
        return peer_binary(venv_dir)
    print(f"creating the peer venv at {venv_dir} ({' '.join(PEER_PACKAGES)}) ...", file=sys.stderr)
    install_venv(venv_dir, PEER_PACKAGES)
    if not peer_ready(venv_dir):
        raise SystemExit(f"the peer venv at {venv_dir} does not import reme_ai 0.1.7")
    return peer_binary(venv_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description="create the ReMe 0.1.7 peer venv")
    parser.add_argument("--venv", type=Path, default=None, help="venv directory")
    args = parser.parse_args()
    print(ensure_peer(args.venv))


if __name__ == "__main__":
    main()
