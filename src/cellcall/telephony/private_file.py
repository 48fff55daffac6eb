"""Files only the service account may read (the SIP password, the monitor key): refused
unless they are regular files, owned by the account cellcall runs as, closed to others."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cellcall.errors import ValidationError
from cellcall.i18n import _


def read_private_file(path: Path, *, what: str) -> bytes:
    """The bytes of ``path``; ``what`` names the file in messages ("the monitor key file")."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ValidationError(_("Cannot read {what} {path}: {error}").format(
            what=what, path=path, error=exc.strerror or exc)) from None
    if not stat.S_ISREG(info.st_mode):
        raise ValidationError(_("Cannot use {what} {path}: it is not a file").format(
            what=what, path=path))
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValidationError(_(
            "Cannot use {what} {path}: other accounts can read it (mode {mode}); make it "
            "readable by the service account only (chmod 600 {path})").format(
                what=what, path=path, mode=oct(stat.S_IMODE(info.st_mode))))
    if info.st_uid != os.geteuid():
        raise ValidationError(_(
            "Cannot use {what} {path}: it belongs to another account; it must belong to "
            "the account cellcall runs as").format(what=what, path=path))
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValidationError(_("Cannot read {what} {path}: {error}").format(
            what=what, path=path, error=exc.strerror or exc)) from None
