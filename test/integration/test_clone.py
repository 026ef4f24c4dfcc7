#!/usr/bin/env python3
"""Writable clones that share data: `aifsctl snapshot clone`, `aifsctl
clone` of any tree, `aifsctl promote DIR@vN NEWDIR`."""
import errno
import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFSCTL_BIN, Store, check, data, eq, main, run_as,  # noqa: E402
                     read_all, skip_native, test, write_file)

MiB = 1 << 20
USER = 4244


def ctl(*args):
    r = subprocess.run([AIFSCTL_BIN] + list(args), capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def ok(*args):
    rc, out = ctl(*args)
    eq(rc, 0, "aifsctl %s: %s" % (" ".join(args), out))
    return out


def stored(s):
    """Bytes the store's hot tier holds on disk."""
    total = 0
    for top, _, files in os.walk(os.path.join(s.store, "hot")):
        for f in files:
            try:
                total += os.lstat(os.path.join(top, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def tree(root):
    """{relative path: bytes, or ("link", target), or "dir"}."""
    out = {}
    for top, dirs, files in os.walk(root):
        for d in dirs:
            p = os.path.join(top, d)
            out[os.path.relpath(p, root)] = ("link", os.readlink(p)) if os.path.islink(p) else "dir"
        for f in files:
            p = os.path.join(top, f)
            if os.path.islink(p):
                out[os.path.relpath(p, root)] = ("link", os.readlink(p))
            else:
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, root)] = fh.read()
    return out


def make_dataset(s):
    ds = os.path.join(s.mnt, "datasets", "ds")
    os.makedirs(os.path.join(ds, "sub"))
    big = data("big", 8 * MiB)
    write_file(os.path.join(ds, "sub", "big"), big)
    write_file(os.path.join(ds, "small"), b"small\n")
    write_file(os.path.join(ds, "sub", "mid"), data("mid", 100000))
    os.symlink("sub/big", os.path.join(ds, "link"))
    return ds


@test
def snapshot_clone_is_writable_and_shares_data():
    skip_native()
    with Store() as s:
        ds = make_dataset(s)
        ok("snapshot", "create", ds, "t1")
        want = tree(ds)
        os.sync()
        before = stored(s)
        branch = os.path.join(s.mnt, "datasets", "branch")
        ok("snapshot", "clone", ds, "t1", branch)
        eq(tree(branch), want, "the clone's tree")
        os.sync()
        grew = stored(s) - before
        check(grew < 2 * MiB, "a clone of an 8 MiB tree must share its data; the store grew "
              "by %d bytes" % grew)
        # the branch is writable and its changes are its own
        write_file(os.path.join(branch, "small"), b"changed\n")
        with open(os.path.join(branch, "sub", "big"), "r+b") as f:
            f.write(b"X" * 10)
        os.unlink(os.path.join(branch, "sub", "mid"))
        eq(tree(ds), want, "the origin after changes to its clone")
        eq(tree(os.path.join(ds, ".aifs", "snapshots", "t1")), want, "the snapshot after changes to its clone")
        out = ok("snapshot", "diff", ds, "t1", branch)
        eq(sorted(out.split("\n")[:-1]), ["- sub/mid", "M small", "M sub/big"], "diff of the snapshot and its clone")
        # the clone outlives its origin; nothing is given back twice
        ok("snapshot", "delete", ds, "t1")
        subprocess.run(["rm", "-rf", ds], check=True)
        s.remount()
        big = data("big", 8 * MiB)
        with open(os.path.join(branch, "sub", "big"), "rb") as f:
            eq(f.read(), b"X" * 10 + big[10:], "the clone's big file after its origin was removed")
        s.unmount()
        s.fsck_clean("fsck after a clone outlived its origin")


@test
def promote_a_directory_version_as_a_new_directory():
    skip_native()
    with Store() as s:
        d = os.path.join(s.mnt, "checkpoints", "run")
        os.makedirs(os.path.join(d, "shards"))
        write_file(os.path.join(d, "config.json"), b'{"v": 1}')
        write_file(os.path.join(d, "shards", "0.bin"), data("s0", 300000))
        ok("checkpoint", "commit", d)
        v1 = tree(os.path.join(s.mnt, "checkpoints", ".aifs", "versions", "run", "1"))
        write_file(os.path.join(d, "config.json"), b'{"v": 2}')
        ok("checkpoint", "commit", d)
        new = os.path.join(s.mnt, "checkpoints", "from-v1")
        ok("promote", d + "@v1", new)
        eq(tree(new), v1, "the promoted directory: version 1's files")
        st = os.stat(os.path.join(new, "config.json"))
        check(st.st_mode & 0o200, "a promoted file is writable by its owner (mode %o)" % st.st_mode)
        write_file(os.path.join(new, "config.json"), b'{"v": 3}')
        eq(tree(os.path.join(s.mnt, "checkpoints", ".aifs", "versions", "run", "1")), v1,
           "version 1 after its copy changed")
        # aifsctl clone of a live tree
        ok("clone", d, os.path.join(s.mnt, "checkpoints", "copy"))
        eq(tree(os.path.join(s.mnt, "checkpoints", "copy")), tree(d), "clone of the live tree")


@test
def clone_and_promote_whose_commits_fail_leave_a_clean_store():
    """The Nth metadata commit of a clone (and of a promote) fails, for N = 1..12:
    the command fails and leaves nothing at its destination, or completes;
    the origin is intact.  After the copies and then the origin are
    removed, the origin's bytes are given back: an extent counted for a
    copy that was never committed would keep them (that is the check that
    fails without deferred counts; fsck passes either way).  Then fsck is
    clean."""
    skip_native()
    with Store() as s:
        ds = make_dataset(s)
        want = tree(ds)
        d = os.path.join(s.mnt, "checkpoints", "run")
        os.makedirs(d)
        write_file(os.path.join(d, "w.bin"), data("w", 300000))
        ok("checkpoint", "commit", d)
        vwant = tree(d)
        failed = set()
        wfile = os.path.join(d, "w.bin")
        fwant = read_all(wfile)
        for n in range(1, 13):
            for what, args, dst, expect in (
                    ("clone", ("clone", ds), os.path.join(s.mnt, "datasets", "c%d" % n), want),
                    ("promote", ("promote", d + "@v1"),
                     os.path.join(s.mnt, "checkpoints", "p%d" % n), vwant),
                    ("promote of a file", ("promote", wfile),
                     os.path.join(s.mnt, "checkpoints", "f%d.bin" % n), None)):
                os.setxattr(s.mnt, "user.aifs.failpoints", ("meta_commit:%d" % n).encode())
                try:
                    rc, out = ctl(*(args + (dst,)))
                finally:
                    os.setxattr(s.mnt, "user.aifs.failpoints", b"")
                if rc != 0:
                    failed.add(what)
                    check(not os.path.lexists(dst), "a %s with commit %d failing left %s behind"
                          % (what, n, dst))
                elif expect is None:
                    eq(read_all(dst), fwant, "%s with commit %d failing" % (what, n))
                    os.unlink(dst)
                else:
                    eq(tree(dst), expect, "%s with commit %d failing" % (what, n))
                    shutil.rmtree(dst)
        eq(sorted(failed), ["clone", "promote", "promote of a file"],
           "commands that failed with a commit failing")
        eq(tree(ds), want, "the origin after the failed clones")
        # with the copies gone, the origin's removal gives its bytes back
        shutil.rmtree(ds)
        os.sync()
        deadline = time.time() + 10
        while stored(s) >= 4 * MiB and time.time() < deadline:
            time.sleep(0.2)
        check(stored(s) < 4 * MiB, "the 8 MiB of the removed origin, copied by clones whose "
              "commit failed, must be given back; the hot tier holds %d bytes" % stored(s))
        s.unmount()
        s.fsck_clean("fsck after clones and promotes whose commits failed")
        s.mount()
        eq(tree(d), vwant, "the versioned directory after a remount")


@test
def clone_inside_its_source_does_not_copy_itself():
    skip_native()
    with Store() as s:
        ds = make_dataset(s)
        want = tree(ds)
        ok("clone", ds, os.path.join(ds, "copy"))
        got = tree(os.path.join(ds, "copy"))
        eq(got, want, "a clone made inside its source")


@test
def clone_checks_permissions_as_cp_would():
    skip_native()
    with Store() as s:
        ds = make_dataset(s)
        secret = os.path.join(ds, "secret")
        write_file(secret, b"no", mode=0o600)
        os.chmod(s.mnt, 0o755)
        for p in (os.path.join(s.mnt, "datasets"),):
            os.chmod(p, 0o755)
        mine = os.path.join(s.mnt, "datasets", "mine")
        os.mkdir(mine)
        os.chown(mine, USER, USER)

        def clone(src, dst):
            r = subprocess.run([AIFSCTL_BIN, "clone", src, dst], capture_output=True, text=True)
            return r.returncode, r.stderr
        rc, err = run_as(USER, USER, clone, ds, os.path.join(mine, "c1"))
        check(rc != 0 and "Permission denied" in err,
              "clone of a tree with a file the user may not read: expected EACCES, saw %d %s" % (rc, err))
        eq(os.listdir(mine), [], "what a refused clone made")
        os.unlink(secret)
        rc, err = run_as(USER, USER, clone, ds, os.path.join(s.mnt, "datasets", "c2"))
        check(rc != 0 and "Permission denied" in err,
              "clone into a directory the user may not write: expected EACCES, saw %d %s" % (rc, err))
        check(not os.path.exists(os.path.join(s.mnt, "datasets", "c2")), "nothing made on refusal")
        rc, err = run_as(USER, USER, clone, ds, os.path.join(mine, "c3"))
        eq(rc, 0, "clone into the user's own directory: " + err)
        st = os.stat(os.path.join(mine, "c3", "sub", "big"))
        eq((st.st_uid, st.st_gid), (USER, USER), "owner of a cloned file")
        eq(tree(os.path.join(mine, "c3")), tree(ds), "the user's clone")
        # a snapshot and a version, which no one may write, are cloned by
        # anyone who may read them
        ok("snapshot", "create", ds, "t1")
        def snap_clone():
            r = subprocess.run([AIFSCTL_BIN, "snapshot", "clone", ds, "t1", os.path.join(mine, "c4")],
                               capture_output=True, text=True)
            return r.returncode, r.stderr
        rc, err = run_as(USER, USER, snap_clone)
        eq(rc, 0, "a user's clone of a snapshot: " + err)
        eq(tree(os.path.join(mine, "c4")), tree(os.path.join(ds, ".aifs", "snapshots", "t1")),
           "the user's clone of a snapshot")
        ck = os.path.join(s.mnt, "checkpoints", "m.pt")
        write_file(ck, b"model one")
        write_file(ck, b"model two")
        rc, err = run_as(USER, USER, clone, ck + "@v1", os.path.join(mine, "m1.pt"))
        eq(rc, 0, "a user's promote of a version of root's file: " + err)
        with open(os.path.join(mine, "m1.pt"), "rb") as f:
            eq(f.read(), b"model one", "the user's copy of version 1")
        try:
            os.setxattr(ds, "user.aifs.promote", b"datasets/mine/c3")
            raise AssertionError("clone onto an existing name succeeded")
        except OSError as e:
            eq(e.errno, errno.EEXIST, "clone onto an existing name")


def du(*paths):
    out = ok("du", "--json", *paths)
    import json
    return {d["path"]: d for d in json.loads(out)}


@test
def du_tells_unique_and_shared_bytes():
    skip_native()
    with Store() as s:
        ds = make_dataset(s)        # 8 MiB + 100000 + 6 bytes (inline)
        logical = 8 * MiB + 100000 + 6
        d = du(ds)[ds]
        eq((d["logical"], d["files"]), (logical, 3), "du of a fresh tree: logical bytes, files")
        check(d["unique"] == d["stored"] and d["shared"] == 0,
              "du of a tree that shares nothing: %s" % d)
        ok("snapshot", "create", ds, "t1")
        snap = os.path.join(ds, ".aifs", "snapshots", "t1")
        branch = os.path.join(s.mnt, "datasets", "branch")
        ok("snapshot", "clone", ds, "t1", branch)
        write_file(os.path.join(branch, "new"), data("new", 2 * MiB))
        os.sync()
        r = du(ds, snap, branch)
        for p in (ds, snap):
            check(r[p]["shared"] >= 8 * MiB and r[p]["unique"] < MiB,
                  "du of %s after a snapshot and a clone: everything big is shared, saw %s" % (
                      os.path.relpath(p, s.mnt), r[p]))
        b = r[branch]
        eq(b["logical"], logical + 2 * MiB, "logical bytes of the branch")
        check(2 * MiB <= b["unique"] < 3 * MiB, "unique bytes of the branch: its new file, saw %s" % b)
        # with the snapshot and the origin gone, the branch holds everything alone
        ok("snapshot", "delete", ds, "t1")
        subprocess.run(["rm", "-rf", ds], check=True)
        os.sync()
        b = du(branch)[branch]
        check(b["shared"] == 0 and b["unique"] == b["stored"],
              "du of the branch once its origin is gone: %s" % b)
        rc, out = ctl("du", os.path.join(s.mnt, "nothing"))
        check(rc != 0 and "No such file" in out, "du of a missing path: %d %s" % (rc, out))


if __name__ == "__main__":
    main()
