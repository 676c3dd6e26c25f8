"""Reading input files and writing output files with one-line errors naming the file.

Output is written so that a crash or a full disk never leaves half a file behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from carefleet.errors import InputError


def read_text(path: str | Path, what: str = "file") -> str:
    """A UTF-8 text file's content; a missing or unreadable one is a one-line ``InputError``."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(path), f"{what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot read {what}: {exc}") from None


def write_atomically(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    Missing parent folders are created; a path that cannot be written (no permission,
    a folder in the way) is the caller's mistake and becomes a one-line ``InputError``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(str(path), f"cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)      # mkstemp makes it 0600; a report is meant to be shared
        os.replace(temporary, path)
    except IsADirectoryError:
        Path(temporary).unlink(missing_ok=True)
        raise InputError(str(path), "cannot write: it is a folder") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
