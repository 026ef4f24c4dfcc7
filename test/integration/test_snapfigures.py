#!/usr/bin/python3
"""The files and bytes of a dataset snapshot (user.aifs.snapshot) and `aifsctl snapshot
list`, which reads them: counted once by the daemon, so that listing the snapshots of a
dataset costs nothing in the size of their trees.  Every test is aifs-only (skipped with
AIFS_TEST_NATIVE=1).
"""

import errno
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFSCTL_BIN, Store, data, eq, check, main, raises, run_as,  # noqa: E402
                     skip_native, test, write_file)

USER = 4245
FIGURES = "user.aifs.snapshot"


def snapshot(ds, tag):
    p = os.path.join(ds, ".aifs", "snapshots", tag)
    os.mkdir(p)
    return p


def listing(ds):
    """aifsctl snapshot list --json DS, as {tag: (files, bytes)}."""
    r = subprocess.run([AIFSCTL_BIN, "snapshot", "list", "--json", ds], capture_output=True,
                       text=True)
    eq(r.returncode, 0, "aifsctl snapshot list --json: %s" % r.stderr)
    return {e["tag"]: (e["files"], e["bytes"]) for e in json.loads(r.stdout)}


def tree_requests(s):
    """The requests a walk of a tree makes, so far (the mount's statistics)."""
    with open(os.path.join(s.mnt, ".aifs", "stats")) as f:
        ops = json.load(f)["ops"]
    return sum(ops.get(k, {}).get("count", 0)
               for k in ("lookup", "getattr", "readdir", "readdirplus", "open", "opendir"))


@test
def snapshot_list_takes_the_daemons_count_without_walking_the_tree():
    """A snapshot of 400 files in 8 directories, one of them also linked under a second
    name: its directory answers files=400 and their bytes, and `aifsctl snapshot list`
    shows the same while making no request per file (a walk of the tree made 400 or
    more).  Other directories have no such attribute."""
    skip_native()
    with Store() as s:
        ds = os.path.join(s.mnt, "datasets", "corpus")
        total = 0
        for d in range(8):
            os.makedirs(os.path.join(ds, "d%d" % d))
            for i in range(50):
                body = data((d, i), 100 + 37 * i)
                write_file(os.path.join(ds, "d%d" % d, "f%03d" % i), body)
                total += len(body)
        os.link(os.path.join(ds, "d0", "f000"), os.path.join(ds, "also-f000"))
        snap = snapshot(ds, "v1")
        want = "files=400 bytes=%d" % total
        eq(os.getxattr(snap, FIGURES).decode(), want, "%s of the snapshot" % FIGURES)
        before = tree_requests(s)
        eq(listing(ds), {"v1": (400, total)}, "snapshot list: (files, bytes)")
        made = tree_requests(s) - before
        check(made < 40, "snapshot list of a 400-file snapshot made %d lookup, getattr, "
              "readdir and open requests: it walked the tree" % made)
        for p in (ds, os.path.join(snap, "d0"), os.path.join(s.mnt, "datasets")):
            raises(errno.ENODATA, os.getxattr, p, FIGURES, what="%s of %s" % (FIGURES, p))
        # the figures stay the snapshot's while the live tree changes, and after a remount
        write_file(os.path.join(ds, "d1", "new"), b"x" * 1000)
        os.unlink(os.path.join(ds, "d2", "f001"))
        snapshot(ds, "v2")
        s.unmount()
        s.mount()
        eq(listing(ds), {"v1": (400, total),
                         "v2": (400, total + 1000 - len(data((2, 1), 137)))},
           "snapshot list after changes and a remount")


@test
def snapshot_figures_take_read_permission_on_the_snapshot():
    """A snapshot taken while its dataset directory was 0711 keeps that mode: another
    user gets EACCES from its figures, and `aifsctl snapshot list` shows them as null
    for it and in full for a snapshot the user may read."""
    skip_native()
    with Store() as s:
        for p in (s.mnt, os.path.join(s.mnt, "datasets")):
            os.chmod(p, 0o755)
        ds = os.path.join(s.mnt, "datasets", "corpus")
        os.mkdir(ds)
        write_file(os.path.join(ds, "a"), b"abc")
        os.chmod(ds, 0o711)
        closed = snapshot(ds, "closed")
        os.chmod(ds, 0o755)
        snapshot(ds, "open")

        def figures(p):
            return os.getxattr(p, FIGURES).decode()
        raises(errno.EACCES, run_as, USER, USER, figures, closed,
               what="%s of a snapshot directory of mode 0711, as another user" % FIGURES)
        eq(run_as(USER, USER, listing, ds), {"closed": (None, None), "open": (1, 3)},
           "snapshot list as another user")
        def text_rows(ds):
            r = subprocess.run([AIFSCTL_BIN, "snapshot", "list", ds], capture_output=True,
                               text=True)
            return {ln.split()[0]: ln.split()[2:] for ln in r.stdout.splitlines()[1:]}
        rows = run_as(USER, USER, text_rows, ds)
        eq(rows, {"closed": ["-", "-"], "open": ["1", "3"]}, "snapshot list text as another user")
        eq(listing(ds), {"closed": (1, 3), "open": (1, 3)}, "snapshot list as root")


if __name__ == "__main__":
    main()
