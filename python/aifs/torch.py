"""aifs.torch — save PyTorch checkpoints into an aifs checkpoint area and learn
exactly which version each save committed.

    import aifs.torch
    saved = aifs.torch.save(model.state_dict(), "/mnt/ai/checkpoints/run1/model.pt")
    log.info("epoch %d: model.pt@v%d sha256 %s", epoch, saved.version, saved.sha256)

The version is committed when the file is closed (no fsync is needed: the
commit is durable).  ``torch`` is imported when ``save`` is first called.
"""

import errno
import hashlib
import os
import typing

import aifs


class Saved(typing.NamedTuple):
    """What a save committed: ``version`` (its number), ``sha256`` (64 hex
    digits), ``path`` (where that version stays readable: FILE@vN)."""
    version: int
    sha256: str
    path: str


class _HashingWriter:
    """A write-only file object that hashes what passes through it."""

    def __init__(self, f):
        self.f = f
        self.h = hashlib.sha256()

    def write(self, b):
        n = self.f.write(b)
        self.h.update(memoryview(b)[:n] if n is not None else b)
        return n

    def flush(self):
        self.f.flush()


def save(obj, path, **kwargs):
    """``torch.save(obj, path, **kwargs)`` into a file of a checkpoint area, then
    return Saved(version, sha256, path) of the version this call committed.

    The SHA-256 of the bytes written is computed while saving and must be the
    one aifs recorded for the version; the version is found among those whose
    writer is this process, so a save by another process at the same time is
    never reported as ours.  Raises AifsError: EINVAL if PATH is not in a
    checkpoint area, EIO if aifs recorded the save as torn or no version of
    this process has its content.
    """
    import torch

    path = os.fspath(path)
    where = os.path.dirname(os.path.abspath(path))
    if aifs.area(where) != "checkpoint":
        raise aifs.AifsError(errno.EINVAL, "save: not in a checkpoint area (%s is %s)" % (
            where, aifs.area(where)), path)
    with open(path, "wb") as f:
        w = _HashingWriter(f)
        torch.save(obj, w, **kwargs)
    sha = w.h.hexdigest()
    return _committed(path, sha)


def _committed(path, sha):
    """The newest version of PATH written by this process with content SHA."""
    me = os.getpid()
    for v in reversed(aifs.versions(path)):
        if v.writer_pid != me:
            continue
        if v.sha256 != sha:
            continue
        if not v.complete:
            raise aifs.AifsError(errno.EIO, "save: version %d is recorded as torn" % v.version,
                                 path)
        return Saved(v.version, v.sha256, "%s@v%d" % (path, v.version))
    raise aifs.AifsError(errno.EIO, "save: no version of this process has sha256 %s" % sha, path)
