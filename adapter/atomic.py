"""Every file the project writes goes through `write_atomic`: a temporary file in the same folder, then
`os.replace`. A crash, a full disk or an encoding error (a lone surrogate in a title) leaves the earlier file,
or none — never an empty or half-written NCT….json that a later `--mappings` run would trip over.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_MODE = 0o644  # mkstemp makes the file private; what the project writes is ordinary data


def write_atomic(path: Path | str, data: str | bytes, *, mode: int = _MODE) -> Path:
    """Write `data` (text as UTF-8) to `path` atomically and return the path. Text that cannot be encoded
    raises UnicodeEncodeError before anything is written; OSError leaves no temporary file behind."""
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data  # encode first: fail before touching disk
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


__all__ = ["write_atomic"]
