"""aifs — the lifecycle of a mounted aifs file system, from Python.

Everything goes through the mount with plain file operations: the
``user.aifs.*`` extended attributes and the hidden ``.aifs`` views, exactly
as ``aifsctl`` does, so a call needs no privileges beyond those of the POSIX
operation it resembles, and the results have the fields of the ``--json``
output of the matching ``aifsctl`` command.

    import aifs
    for v in aifs.versions("checkpoints/run1/model.pt"):
        print(v.version, v.sha256, v.complete, v.current)
    aifs.restore("checkpoints/run1/model.pt", 2)
    aifs.snapshot("datasets/ds1", "v1")
    aifs.diff("datasets/ds1", "v1", "live")
    aifs.lineage("checkpoints/run1/model.pt")["sources"]
    aifs.hold("checkpoints/run1/model.pt@v2", "paper")
    aifs.copy("datasets/ds1/train.bin", "datasets/ds2/train.bin")   # shares data

``aifs.torch.save(obj, path)`` saves a PyTorch object into a checkpoint area
and returns the version it committed and its SHA-256.

Every failure raises ``AifsError``, an ``OSError`` with the errno, a message
that says what was refused and why, and the path.  The package needs only the
standard library; see aifs-python(7).
"""

import dataclasses
import errno as _errno
import json
import os
import re
import stat
import time

__all__ = [
    "AifsError", "Version", "area", "current", "versions", "version_path", "restore",
    "promote", "hold", "unhold", "holds", "snapshot", "snapshot_delete", "snapshots",
    "manifest", "diff", "lineage", "copy",
]


class AifsError(OSError):
    """An aifs operation failed: ``errno``, ``strerror`` (what and why) and
    ``filename`` are set as for any ``OSError``."""


def _fail(err, what, path, why=None):
    """Raise AifsError(err) for WHAT on PATH; WHY explains the errno in aifs terms."""
    raise AifsError(err, "%s: %s" % (what, why or os.strerror(err)), os.fspath(path))


def _getattr(path, name):
    """The text of attribute user.aifs.NAME of PATH, or None when it has none."""
    try:
        return os.getxattr(path, "user.aifs." + name).decode("utf-8", "surrogateescape")
    except OSError as e:
        if e.errno == _errno.ENODATA:
            return None
        _fail(e.errno, "reading user.aifs." + name, path,
              "not on a mounted aifs" if e.errno == _errno.EOPNOTSUPP else None)


def _setattr(path, name, value, what, table):
    """Set user.aifs.NAME of PATH to VALUE; a refusal raises AifsError for WHAT."""
    try:
        os.setxattr(path, "user.aifs." + name, value.encode("utf-8", "surrogateescape"))
    except OSError as e:
        _fail(e.errno, what, path, table.get(e.errno))


_CHECKPOINT = {
    _errno.EBUSY: "busy (a save of the file is under way, or a held version)",
    _errno.ENOENT: "no such version",
    _errno.EINVAL: "not a checkpoint file or version, or a bad value",
    _errno.EOPNOTSUPP: "not on a mounted aifs",
    _errno.EPERM: "not permitted (not the owner, or a journal area)",
}


def area(path):
    """The area of PATH: "checkpoint", "dataset", "journal" or "plain"."""
    a = _getattr(path, "area")
    if a is None:
        _fail(_errno.ENODATA, "area", path, "not on a mounted aifs")
    return a


# ---------------------------------------------------------------- versions

@dataclasses.dataclass(frozen=True)
class Version:
    """One version of a checkpoint file, as a line of ``aifsctl versions --json``.

    ``version`` its number, ``time`` the commit time (UTC, ISO 8601), ``size``
    in bytes, ``complete`` False for a torn save, ``current`` True for the
    version the name serves, ``sha256`` 64 hex digits, ``writer`` as
    "uid=U pid=P comm=C", and ``path`` where it is read (DIR/.aifs/versions/FILE/N).
    """
    version: int
    time: str
    size: int
    complete: bool
    current: bool
    sha256: str
    writer: str
    path: str

    def asdict(self):
        """The fields of ``aifsctl versions --json`` (without ``path``)."""
        d = dataclasses.asdict(self)
        del d["path"]
        return d

    @property
    def writer_pid(self):
        """The process ID of the writer, or None."""
        m = re.search(r"\bpid=(\d+)", self.writer)
        return int(m.group(1)) if m else None


def _split(path):
    path = os.fspath(path)
    d, b = os.path.split(path.rstrip("/") or path)
    return d or ".", b


def version_path(path, n):
    """Where version N of the checkpoint file PATH is read: DIR/.aifs/versions/FILE/N."""
    d, b = _split(path)
    return os.path.join(d, ".aifs", "versions", b, str(int(n)))


def current(path):
    """The number of the version the name PATH serves, or None if it has none."""
    v = _getattr(path, "version")
    return int(v) if v else None


def versions(path):
    """The versions of PATH, a file in a checkpoint area, oldest first (a list of
    Version).  Raises AifsError(ENOENT) if PATH has no versions."""
    d, b = _split(path)
    vdir = os.path.join(d, ".aifs", "versions", b)
    # One read of the listing (DIR/.aifs/versions/FILE/index.json), not a stat
    # and a few attributes per version.
    try:
        with open(os.path.join(vdir, "index.json"), "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except OSError as e:
        _fail(e.errno, "versions", path,
              "has no versions (not a file in a checkpoint area of a mounted aifs?)")
    cur = doc.get("current")
    out = []
    for v in doc.get("versions", []):
        n = int(v["version"])
        # the listing writes every byte outside printable ASCII as one \u00XX
        writer = v.get("writer", "").encode("latin-1").decode("utf-8", "surrogateescape")
        out.append(Version(
            version=n,
            time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(v["time_ns"]) // 10**9)),
            size=int(v["size"]),
            complete=bool(v["complete"]),
            current=n == cur,
            sha256=v.get("sha256", ""),
            writer=writer,
            path=os.path.join(vdir, str(n))))
    return out


def restore(path, n):
    """Make version N of the checkpoint file PATH its newest version again (its
    data is shared, not copied); returns the new version's number."""
    _setattr(path, "restore", str(int(n)), "restore version %d" % int(n), _CHECKPOINT)
    return current(path)


def promote(path, dest, n=None):
    """Publish version N of PATH (default: the version it serves) as the new file
    DEST on the same mount, sharing its data; returns DEST."""
    src = version_path(path, n) if n is not None else os.fspath(path)
    dest = os.fspath(dest)
    root = _mount_root(src)
    ddir = os.path.realpath(os.path.dirname(os.path.abspath(dest)))
    if ddir != root and not ddir.startswith(root.rstrip("/") + "/"):
        _fail(_errno.EXDEV, "promote", dest, "not on the same mounted aifs as " + src)
    rel = os.path.relpath(os.path.join(ddir, os.path.basename(dest)), root)
    _setattr(src, "promote", rel, "promote to " + dest, _CHECKPOINT)
    return dest


def _version_target(path_or_version, n, what):
    """The file that a hold names: a version path as given, version N of a
    checkpoint file, its current version, or a journal file itself."""
    p = os.fspath(path_or_version)
    if n is not None:
        return version_path(p, n)
    if re.search(r"@v\d+$", p) or "/.aifs/versions/" in "/" + p:
        return p
    if area(p) == "journal":
        return p
    cur = current(p)
    if cur is None:
        _fail(_errno.ENOENT, what, p, "has no complete version to hold")
    return version_path(p, cur)


def hold(path_or_version, tag, n=None):
    """Put the hold TAG on a version: FILE@vN, DIR/.aifs/versions/FILE/N, version N
    of FILE, or the version FILE serves; on a journal file, a legal hold.  A held
    version is never pruned and its file is not deleted (EBUSY).  Returns the
    path of what is held."""
    p = _version_target(path_or_version, n, "hold")
    _setattr(p, "hold", tag, "hold %r" % tag, _CHECKPOINT)
    return p


def unhold(path_or_version, tag, n=None):
    """Take the hold TAG off (the same targets as hold)."""
    p = _version_target(path_or_version, n, "unhold")
    _setattr(p, "unhold", tag, "unhold %r" % tag, _CHECKPOINT)
    return p


def holds(path_or_version, n=None):
    """The hold tags on a version (the same targets as hold), as a list."""
    p = _version_target(path_or_version, n, "holds")
    text = _getattr(p, "holds") or ""
    return [t for t in text.split(",") if t]


# ---------------------------------------------------------------- snapshots

_SNAPSHOT = {
    _errno.EPERM: "not permitted (not a directory in a dataset area, or not its owner)",
    _errno.EEXIST: "a snapshot of that tag exists",
    _errno.ENOENT: "no such dataset directory or snapshot",
    _errno.EINVAL: "not a valid tag (up to 255 bytes, not starting with a dot)",
}


def _snapdir(ds, tag):
    ds = os.fspath(ds)
    if tag is None or tag == "live":
        return ds
    return os.path.join(ds, ".aifs", "snapshots", tag)


def snapshot(ds, tag):
    """Freeze the tree DS (a directory in a dataset area) as snapshot TAG without
    copying data; returns the snapshot's read-only path DS/.aifs/snapshots/TAG."""
    p = _snapdir(ds, tag)
    try:
        os.mkdir(p, 0o755)
    except OSError as e:
        _fail(e.errno, "snapshot %r" % tag, ds, _SNAPSHOT.get(e.errno))
    return p


def snapshot_delete(ds, tag):
    """Drop the snapshot TAG of DS."""
    try:
        os.rmdir(_snapdir(ds, tag))
    except OSError as e:
        _fail(e.errno, "snapshot delete %r" % tag, ds, _SNAPSHOT.get(e.errno))


def snapshots(ds):
    """The tags of the snapshots of DS, sorted."""
    try:
        return sorted(t for t in os.listdir(os.path.join(os.fspath(ds), ".aifs", "snapshots"))
                      if not t.startswith("."))
    except OSError as e:
        _fail(e.errno, "snapshots", ds, "not a directory in a dataset area of a mounted aifs?")


def manifest(ds, tag="live"):
    """Every regular file of snapshot TAG of DS ("live": the live tree), sorted by
    path, as the dicts of ``aifsctl snapshot manifest``: path, size, sha256,
    mode (octal text), mtime.  The hashes come from user.aifs.sha256."""
    root = _snapdir(ds, tag)
    if not os.path.isdir(root):
        _fail(_errno.ENOENT, "manifest of %r" % tag, ds, _SNAPSHOT[_errno.ENOENT])
    out = []

    def onerror(e):
        _fail(e.errno, "manifest of %r" % tag, e.filename or root)

    for dirpath, dirs, files in os.walk(root, onerror=onerror):
        for f in files:
            p = os.path.join(dirpath, f)
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode):
                continue
            out.append({"path": os.path.relpath(p, root), "size": st.st_size,
                        "sha256": _getattr(p, "sha256") or "",
                        "mode": "%04o" % (st.st_mode & 0o7777), "mtime": int(st.st_mtime)})
    out.sort(key=lambda e: os.fsencode(e["path"]))
    return out


def diff(ds, a, b):
    """The regular files that differ between trees A and B of DS (snapshot tags or
    "live"), sorted by path, as ``aifsctl snapshot diff --json``: a list of
    {"change": "added"|"removed"|"changed", "path": ...}.  Only size and
    SHA-256 count, not mode or time."""
    x = {e["path"]: e for e in manifest(ds, a)}
    y = {e["path"]: e for e in manifest(ds, b)}
    out = []
    for p in sorted(set(x) | set(y), key=os.fsencode):
        if p not in y:
            out.append({"change": "removed", "path": p})
        elif p not in x:
            out.append({"change": "added", "path": p})
        elif (x[p]["size"], x[p]["sha256"]) != (y[p]["size"], y[p]["sha256"]):
            out.append({"change": "changed", "path": p})
    return out


# ---------------------------------------------------------------- lineage

def lineage(path):
    """The lineage of the checkpoint version PATH (a file, FILE@vN or a directory
    with versions): the dict of ``aifsctl lineage --json`` (version, job,
    writer, attached, sources, each checkpoint source with its own upstream)."""
    text = _getattr(path, "lineage")
    if text is None:
        _fail(_errno.ENODATA, "lineage", path,
              "no lineage (not a checkpoint version, or lineage=off)")
    try:
        return json.loads(text)
    except ValueError as e:
        _fail(_errno.EIO, "lineage", path, "unreadable user.aifs.lineage: %s" % e)


# ---------------------------------------------------------------- copies

def copy(src, dst):
    """Copy the file SRC to DST (created, or truncated) on the same mount by
    copy_file_range, which shares the data instead of copying it (a journal
    area gets a byte copy); returns the number of bytes copied."""
    src, dst = os.fspath(src), os.fspath(dst)
    try:
        fi = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        _fail(e.errno, "copy", src)
    try:
        try:
            fo = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                         stat.S_IMODE(os.fstat(fi).st_mode))
        except OSError as e:
            _fail(e.errno, "copy", dst)
        done, size = 0, os.fstat(fi).st_size
        try:
            while done < size:
                n = os.copy_file_range(fi, fo, size - done, done, done)
                if n == 0:
                    break
                done += n
        except OSError as e:
            _fail(e.errno, "copy to " + dst, src,
                  "not on the same mounted aifs" if e.errno == _errno.EXDEV else None)
        finally:
            os.close(fo)
    finally:
        os.close(fi)
    return done


# ---------------------------------------------------------------- helpers

def _mount_root(path):
    """The mount point of the file system that holds PATH."""
    p = os.path.realpath(os.fspath(path))
    while not os.path.ismount(p):
        p = os.path.dirname(p)
    return p
