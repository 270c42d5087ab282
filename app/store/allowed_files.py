"""Files a request may read or write: under the allowed directory, reached without links.

A path is checked once and then opened, so checking it with ``resolve()`` leaves a window in
which a directory can be swapped for a symbolic link to elsewhere. Files here are instead
opened the way the check reads them: the allowed directory is opened once, then each part of
the path is opened relative to the directory before it with ``O_NOFOLLOW``, so a link met at
any moment fails the request instead of being followed. The final file is checked on its
open descriptor (a regular file to read; a new file, renamed into place, to write).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from app.errors import Conflict, InvalidInput, NotFound
from app.models import workspace_id_problem

# PATH_MAX on Linux; a longer path can never be opened.
MAX_PATH_CHARS = 4096
# File systems cap a file name at 255 bytes; a 128-character id in a non-Latin script can exceed it.
MAX_FILE_NAME_BYTES = 255
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class AllowedFile:
    """``root/parts...``: the last part is the file name, the others directories below ``root``."""

    root: Path
    parts: tuple[str, ...]

    @property
    def path(self) -> Path:
        return self.root.joinpath(*self.parts)

    def __str__(self) -> str:
        return str(self.path)


def workspace_file_name(workspace_id: str) -> str:
    """``<workspace_id>.jsonl``: a plain name in the target folder, never a path.

    Workspace ids hold no '/', '\\' or control characters and are not '.' or '..' (the model's
    rule), so the name cannot leave the folder; this checks again, and checks the length.
    """
    problem = workspace_id_problem(workspace_id)
    if problem:
        raise InvalidInput(
            f"invalid workspace id {workspace_id!r}: {problem}",
            errors=[{"loc": ["body", "workspace_id"], "msg": problem}],
        )
    name = f"{workspace_id}.jsonl"
    size = len(name.encode("utf-8"))
    if size > MAX_FILE_NAME_BYTES:
        raise InvalidInput(
            f"the file name {name!r} would be {size} bytes in UTF-8, above the file system limit of "
            f"{MAX_FILE_NAME_BYTES}; give a path ending in .jsonl to name the file yourself",
            errors=[{"loc": ["body", "path"], "msg": "workspace id too long for a file name"}],
        )
    return name


def path_error(message: str) -> InvalidInput:
    return InvalidInput(message, errors=[{"loc": ["body", "path"], "msg": message}])


def locate_workspace_file(allowed_dir: Path, path: str, workspace_id: str) -> AllowedFile:
    """``<path>/<workspace_id>.jsonl``, or ``path`` itself when it names a .jsonl file.

    Relative paths are taken from ``allowed_dir``. ``..`` is resolved on the text of the path
    (links are never followed, so the text is what will be opened); the result must lie inside
    ``allowed_dir``.
    """
    if not path:
        raise InvalidInput(
            "path is required for dump and load", errors=[{"loc": ["body", "path"], "msg": "required"}]
        )
    if len(path) > MAX_PATH_CHARS:
        raise path_error(f"path has {len(path)} characters; the limit is {MAX_PATH_CHARS}")
    if "\x00" in path:
        raise path_error("path contains a NUL character")
    try:
        given = Path(path).expanduser()
    except RuntimeError as exc:  # ~user with no such user
        raise path_error(f"path {path!r} cannot be expanded: {exc}") from None
    base = given if given.is_absolute() else allowed_dir / given
    target = base if base.suffix == ".jsonl" else base / workspace_file_name(workspace_id)
    normal = Path(os.path.normpath(target))
    if not normal.is_relative_to(allowed_dir) or normal == allowed_dir:
        raise InvalidInput(
            f"path {path!r} resolves to {normal}, outside the allowed directory {allowed_dir} "
            "(set REME_STORAGE__ALLOWED_DIR to change it)",
            errors=[{"loc": ["body", "path"], "msg": "outside the allowed directory"}],
        )
    return AllowedFile(allowed_dir, normal.relative_to(allowed_dir).parts)


def _refusal(exc: OSError, file: AllowedFile, part: str, dir_fd: int) -> InvalidInput | NotFound | None:
    """The 4xx error an ``OSError`` met while opening ``part`` of ``file`` stands for, if any."""
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        try:
            is_link = stat.S_ISLNK(os.stat(part, dir_fd=dir_fd, follow_symlinks=False).st_mode)
        except OSError:
            is_link = False
        if is_link:
            return path_error(f"{part!r} in {file} is a symbolic link; links are not followed")
        return path_error(f"{part!r} in {file} is not a directory")
    if exc.errno == errno.ENAMETOOLONG:
        return path_error(f"{part[:40]!r}... in the path is longer than the file system allows")
    if exc.errno == errno.EISDIR:
        return path_error(f"{file} is a directory; give a .jsonl file name or a directory to write into")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return path_error(f"the service may not open {file}: {exc.strerror}")
    if exc.errno == errno.ENOENT:
        return NotFound(f"no file {file}")
    return None


def _open_directory(file: AllowedFile, *, create: bool) -> int:
    """A descriptor of the file's directory, walked from the root without following links."""
    fd = os.open(file.root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in file.parts[:-1]:
            try:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=fd)
                child = os.open(part, _DIRECTORY_FLAGS, dir_fd=fd)
            except OSError as exc:
                refusal = _refusal(exc, file, part, fd)
                if refusal is None:
                    raise
                raise refusal from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_for_reading(file: AllowedFile) -> IO[bytes]:
    """The file, opened for reading; it must be a regular file reached without links."""
    directory = _open_directory(file, create=False)
    name = file.parts[-1]
    try:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=directory)
        except OSError as exc:
            refusal = _refusal(exc, file, name, directory)
            if refusal is None:
                raise
            raise refusal from None
    finally:
        os.close(directory)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise path_error(f"{file} is not a regular file")
    return os.fdopen(fd, "rb")


class FileSink:
    """A new file written beside its final name and renamed over it by :meth:`commit`.

    Readers never see a half-written file, and a failed write leaves the old one in place.
    """

    def __init__(self, directory: int, name: str, shown: str) -> None:
        self._directory = directory
        self._name = name
        self._shown = shown
        # A bounded prefix: the target's name may already be near the file system's 255-byte limit.
        self._temporary = f".{name[:40]}.{secrets.token_hex(6)}.tmp"
        fd = os.open(
            self._temporary,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
            0o644,
            dir_fd=directory,
        )
        self.handle: IO[str] = os.fdopen(fd, "w", encoding="utf-8")
        self._committed = False

    def commit(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        try:
            os.replace(self._temporary, self._name, src_dir_fd=self._directory, dst_dir_fd=self._directory)
        except IsADirectoryError:
            raise path_error(
                f"{self._shown} is a directory; give a .jsonl file name or a directory to write into"
            ) from None
        except FileNotFoundError:
            raise Conflict(f"the directory of {self._shown} was removed while the file was written") from None
        self._committed = True

    def close(self) -> None:
        """Close everything; the temporary file goes unless it was renamed into place."""
        self.handle.close()
        if not self._committed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._temporary, dir_fd=self._directory)
        os.close(self._directory)


def open_sink(target: Path | AllowedFile) -> FileSink:
    """A sink for ``target``: an allowed file (no links followed), or any path (the CLI's own)."""
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
        return FileSink(os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY), target.name, str(target))
    directory = _open_directory(target, create=True)
    name = target.parts[-1]
    try:
        try:
            found = os.stat(name, dir_fd=directory, follow_symlinks=False)
        except FileNotFoundError:
            found = None
        if found is not None and stat.S_ISDIR(found.st_mode):
            raise path_error(f"{target} is a directory; give a .jsonl file name or a directory to write into")
        return FileSink(directory, name, str(target))
    except OSError as exc:
        refusal = _refusal(exc, target, name, directory)
        os.close(directory)
        if refusal is None:
            raise
        raise refusal from None
    except BaseException:
        os.close(directory)
        raise
