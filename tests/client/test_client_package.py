"""The reme-client distribution builds on its own, depends only on httpx and pydantic, and works
when installed away from this repository."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import reme_client

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"


def test_the_client_wheel_installs_and_imports_on_its_own(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(CLIENT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob(f"reme_client-{reme_client.__version__}-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names if n.endswith("METADATA"))
    sources = {
        f"reme_client/{p.relative_to(CLIENT / 'reme_client')}" for p in (CLIENT / "reme_client").rglob("*.py")
    }
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import reme_client; print(reme_client.__file__, reme_client.AsyncReMeClient)",
        ],
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert sources | {"reme_client/py.typed"} <= names
    requires = sorted(line.split()[1] for line in metadata.splitlines() if line.startswith("Requires-Dist:"))
    assert [r.split(">")[0] for r in requires] == ["httpx", "pydantic"]
    assert installed.returncode == 0, installed.stderr
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith(str(target))
