"""Reading a cluster secret from its file (``--secret-file``), refusing one others could read.

The secret is the file's bytes without surrounding whitespace (so ``head -c 32
/dev/urandom | base64 > F`` or ``openssl rand -hex 32 > F`` both make one). A
secret anyone on the machine can read authenticates nothing, so the file must
be readable by its owner only (mode 0600 or 0400), like an ssh key.
"""

from __future__ import annotations

import os
import stat


class SecretError(Exception):
    """A secret file that cannot be used; the message says why, in one line."""


def load_secret(path: str) -> bytes:
    """The secret in ``path``; SecretError if it is unreadable, empty, or readable by others."""
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise SecretError(f"secret file {path} is not a regular file")
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise SecretError(
                    f"secret file {path} is accessible by group or others (mode {stat.S_IMODE(mode):04o}); "
                    f"make it private: chmod 600 {path}"
                )
            secret = f.read(65_536).strip()
    except OSError as exc:
        raise SecretError(f"cannot read secret file {path}: {exc.strerror or exc}") from None
    if not secret:
        raise SecretError(f"secret file {path} is empty")
    return secret
