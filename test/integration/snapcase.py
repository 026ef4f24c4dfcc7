"""Helpers shared by the dataset snapshot tests (test_snapshot, test_snapholds):
datasets and snapshots, trees of metadata and content, aifsctl, forked writers."""

import hashlib
import json
import os
import signal
import stat
import time

from harness import (AIFSCTL_BIN, Fail, data, eq, read_all, run, same_bytes,
                     write_synced)


KiB = 1 << 10
MiB = 1 << 20
REC = 64 * KiB


def dataset(s, name):
    """A fresh directory under the store's datasets/ area."""
    p = os.path.join(s.mnt, "datasets", name)
    os.mkdir(p)
    return p


def snapdir(ds, tag=None):
    p = os.path.join(ds, ".aifs", "snapshots")
    return p if tag is None else os.path.join(p, tag)


def snapshot(ds, tag):
    os.mkdir(snapdir(ds, tag))
    return snapdir(ds, tag)


def hot_usage(s):
    """Bytes allocated on disk by the files of STORE/hot."""
    total = 0
    for dirpath, _, files in os.walk(os.path.join(s.store, "hot")):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def ctl(*args):
    """Run aifsctl; return (exit code, stdout+stderr)."""
    return run([AIFSCTL_BIN] + [str(a) for a in args])


def ctl_ok(*args):
    rc, out = ctl(*args)
    if rc != 0:
        raise Fail("aifsctl %s: expected exit 0, saw %d: %s" % (
            " ".join(str(a) for a in args), rc, out.strip()[-1000:]))
    return out


def sha_hex(b):
    return hashlib.sha256(b).hexdigest()


def xattr_sha(path):
    return os.getxattr(path, "user.aifs.sha256").decode("ascii", "replace")


def meta_tree(root):
    """{relative path: metadata} for root and everything under it, from lstat/listxattr only
    (no file is opened, so no atime changes).  Hard links are reported as the list of names
    that share one inode, per inode."""
    out = {}
    inodes = {}

    def one(rel, p):
        st = os.lstat(p)
        kind = stat.S_IFMT(st.st_mode)
        x = {}
        if not stat.S_ISLNK(st.st_mode):
            for n in sorted(os.listxattr(p, follow_symlinks=False)):
                x[n] = os.getxattr(p, n, follow_symlinks=False)
        out[rel] = {
            "type": kind, "mode": oct(stat.S_IMODE(st.st_mode)), "uid": st.st_uid,
            "gid": st.st_gid, "size": st.st_size if not stat.S_ISDIR(st.st_mode) else None,
            "nlink": st.st_nlink, "mtime_ns": st.st_mtime_ns, "atime_ns": st.st_atime_ns,
            "xattrs": x, "target": os.readlink(p) if stat.S_ISLNK(st.st_mode) else None,
        }
        if not stat.S_ISDIR(st.st_mode):
            inodes.setdefault(st.st_ino, []).append(rel)

    one(".", root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in sorted(dirnames + filenames):
            p = os.path.join(dirpath, n)
            one(os.path.relpath(p, root), p)
    links = sorted(sorted(v) for v in inodes.values() if len(v) > 1)
    return out, links


def same_meta(seen, expected, what):
    """Compare two meta_tree() results entry by entry, naming the first difference."""
    (sm, sl), (em, el) = seen, expected
    eq(sorted(sm), sorted(em), "%s: names" % what)
    for rel in sorted(em):
        for k in em[rel]:
            if sm[rel][k] != em[rel][k]:
                raise Fail("%s: %s of %s: expected %r, saw %r" % (what, k, rel, em[rel][k], sm[rel][k]))
    eq(sl, el, "%s: groups of names sharing one inode" % what)


def contents(root):
    """{relative path: bytes} of every regular file under root."""
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for n in filenames:
            p = os.path.join(dirpath, n)
            if stat.S_ISREG(os.lstat(p).st_mode):
                out[os.path.relpath(p, root)] = read_all(p)
    return out


def same_contents(seen, expected, what):
    eq(sorted(seen), sorted(expected), "%s: regular files" % what)
    for rel in sorted(expected):
        same_bytes(seen[rel], expected[rel], "%s: content of %s" % (what, rel))


def fill_64mib(d, prefix, nfiles=16):
    """nfiles files of 64 MiB / nfiles each, fsync'd; returns {name: sha256}."""
    size = 64 * MiB // nfiles
    out = {}
    for i in range(nfiles):
        b = data((prefix, i), size)
        write_synced(os.path.join(d, "%s-%02d" % (prefix, i)), b)
        out["%s-%02d" % (prefix, i)] = sha_hex(b)
    return out


def wait_until(cond, timeout, step=0.1):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v or time.time() >= deadline:
            return v
        time.sleep(step)


def fork_loop(fn, *args):
    """Run fn(*args) repeatedly in a child until it gets SIGTERM; returns the pid."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
            fn(*args)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        os._exit(code)
    return pid


def stop_child(pid, what):
    os.kill(pid, signal.SIGTERM)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    eq(code, 0, "%s: exit status (0 = killed by our SIGTERM while running normally)" % what)


def manifest_expected(root):
    lines = []
    for dirpath, _, filenames in os.walk(root):
        for n in filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode):
                continue
            lines.append({"path": os.path.relpath(p, root), "size": st.st_size,
                          "sha256": sha_hex(read_all(p)), "mode": "%04o" % stat.S_IMODE(st.st_mode),
                          "mtime": st.st_mtime_ns // 10**9})
    return sorted(lines, key=lambda e: e["path"].encode())


def json_lines(out, what):
    try:
        return [json.loads(l) for l in out.splitlines() if l.strip()]
    except ValueError as e:
        raise Fail("%s: expected JSON lines, saw %r (%s)" % (what, out[:300], e))
