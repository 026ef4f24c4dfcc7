"""Helpers shared by the failure-path tests (test_failures, test_commitfail,
test_storefail, test_killpoint): fail points, sealed journal files, checkpoint
versions, files made durable, and a failing commit checked across a remount."""

import errno
import io
import os
import time
import zipfile

from harness import Fail, Skip, check, eq, raises

APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND


def sealed(path):
    """True when opening path for writing gives EPERM (the file is sealed)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError as e:
        if e.errno == errno.EPERM:
            return True
        raise
    os.close(fd)
    return False


def sealed_after_close(path):
    """The seal follows the last release, which the kernel sends after close()
    returned; an open for writing waits briefly for it.  Allow a loaded
    machine a few more tries before calling the file unsealed."""
    for _ in range(50):
        if sealed(path):
            return True
        time.sleep(0.1)
    return False


def write_ok(fd, b, what):
    try:
        n = os.write(fd, b)
    except OSError as e:
        raise Fail("%s: expected a write of %d bytes, saw %s" % (what, len(b), e))
    eq(n, len(b), what)


def seals(path, what):
    check(sealed_after_close(path), "%s: expected %s sealed once its last writer was closed, "
          "saw it writable" % (what, path))


def arm(s, spec):
    """Arm the daemon's fail points (debug builds); skip where they are not built in."""
    try:
        os.setxattr(s.mnt, "user.aifs.failpoints", spec.encode())
    except OSError as e:
        if e.errno == errno.EOPNOTSUPP:
            raise Skip("aifs built without fail points")
        raise


def versions(d, name):
    try:
        return sorted(int(v) for v in os.listdir(os.path.join(d, ".aifs", "versions", name)))
    except FileNotFoundError:
        return []


def wait_versions(d, name, expected, what):
    """Versions are committed at close, or at the release that follows it."""
    for _ in range(100):
        if versions(d, name) == expected:
            return
        time.sleep(0.1)
    eq(versions(d, name), expected, what)


def save(path, content):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        eq(os.write(fd, content), len(content), "write of %s" % path)
    finally:
        os.close(fd)


def child_write_exit(fd, b):
    """multiprocessing target: write through the inherited descriptor, exit."""
    os.write(fd, b)


def child_exit():
    """multiprocessing target: do nothing; the exit closes the inherited descriptor."""


def fsynced_file(path, content):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        eq(os.write(fd, content), len(content), "write of %s" % path)
        os.fsync(fd)
    finally:
        os.close(fd)


def failing_commit(s, fn, *args, what, err=errno.EIO):
    """Run fn with the next metadata commit failing; require errno ERR."""
    arm(s, "meta_commit:1")
    try:
        raises(err, fn, *args, what=what)
    finally:
        arm(s, "")


def after_remount_and_fsck(s, checks):
    """Run CHECKS now, after a remount, and require a clean fsck of the store."""
    checks("after the failed commit")
    s.remount()
    checks("after a remount")
    s.unmount()
    s.fsck_clean("fsck after a failed commit")
    s.mount()
    checks("after fsck and a mount")


def churn(d, n=8):
    """Write, then remove, files: a reclaimer that was given the wrong space back reuses it."""
    for i in range(n):
        q = os.path.join(d, "churn%d" % i)
        fsynced_file(q, bytes([i]) * (300 << 10))
    for i in range(n):
        os.unlink(os.path.join(d, "churn%d" % i))


def zip_bytes(seed, n=200000):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("data/%s" % seed, bytes([seed % 251]) * n)
    return buf.getvalue()


def segments(s):
    d = os.path.join(s.store, "hot")
    return sorted(os.path.join(d, n) for n in os.listdir(d) if n.startswith("seg-"))
