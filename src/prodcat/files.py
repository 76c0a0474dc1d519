"""Small file-system helpers shared by every module that writes files atomically."""

from __future__ import annotations

import os


def usual_mode(*, directory: bool = False) -> int:
    """The mode a plain ``open`` (0666) or ``mkdir`` (0777) would give under the current umask.

    ``tempfile.mkstemp`` and ``mkdtemp`` make private files (0600, 0700); a file written through a
    temporary sibling gets this mode before it replaces its target, like any other file the user writes.
    """
    umask = os.umask(0)  # the only way to read it; set straight back
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask
