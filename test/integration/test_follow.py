#!/usr/bin/python3
"""Follower mounts (issue 21, part 1): a read-only mount of a store whose data
is in RADOS, from its local replica of the metadata, that sees what the
writer commits as the writer ships it.  Against a real one-node cluster
(ceph.py) started once for this file; the writer and the follower run on
this host, in directories of their own, as two hosts would."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ceph  # noqa: E402
from harness import (AIFS_BIN, AIFSCTL_BIN, Fail, Store, check, data, eq, main,  # noqa: E402
                     read_all, run, skip_native, test, write_file)

CLUSTER = None


class Writer(Store):
    """A store whose data is in rados:POOL/NAME of the test cluster."""

    def mkfs(self):
        rc, out = run([AIFSCTL_BIN, "mkfs", "--data", "rados:%s" % CLUSTER.pool, "--ceph-conf",
                       CLUSTER.conf, self.store])
        if rc != 0:
            raise Fail("aifsctl mkfs --data: exit %d: %s" % (rc, out))
        with open(os.path.join(self.store, "aifs.conf")) as f:
            conf = dict(ln.split(" = ", 1) for ln in f.read().splitlines() if " = " in ln)
        self.spec = conf["hot"]


class Follower:
    def __init__(self, spec, extra="", replica=None):
        self.base = tempfile.mkdtemp(prefix="aifs-follow-")
        self.mnt = os.path.join(self.base, "mnt")
        self.replica = replica or os.path.join(self.base, "replica")
        os.mkdir(self.mnt)
        self.log = open(os.path.join(self.base, "aifs.log"), "w")
        argv = [AIFS_BIN, "--follow", spec, self.mnt, "-f", "-o",
                "allow_other,replica=%s,ceph_conf=%s%s" % (self.replica, CLUSTER.conf, extra)]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while not os.path.ismount(self.mnt):
            if self.proc.poll() is not None or time.time() > deadline:
                self.log.flush()
                with open(self.log.name) as f:
                    raise Fail("follower did not mount: %s" % f.read()[-2000:])
            time.sleep(0.1)

    def close_keep(self):
        """Unmount, keeping the replica."""
        subprocess.run(["umount", self.mnt])
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        subprocess.run(["umount", self.mnt], stderr=subprocess.DEVNULL)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.base, ignore_errors=True)


def eventually(fn, what, timeout=15.0):
    """FN() is true within TIMEOUT seconds (the documented lag is about 2 s)."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            if fn():
                return
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise Fail("%s: not seen by the follower within %.0f s%s" % (
        what, timeout, " (last error: %s)" % last if last else ""))


def content(path):
    with open(path, "rb") as f:
        return f.read()


@test
def follower_sees_files_versions_snapshots_and_journal_records():
    skip_native()
    with Writer() as w:
        write_file(os.path.join(w.mnt, "datasets", "before"), data("b", 300000))
        os.sync()
        time.sleep(2)           # shipped before the follower starts
        f = Follower(w.spec)
        try:
            eq(content(os.path.join(f.mnt, "datasets", "before")), data("b", 300000),
               "a file committed before the follower started")
            # a new file, then a change of it
            p = os.path.join(w.mnt, "datasets", "new")
            write_file(p, data("n1", 200000))
            eventually(lambda: content(os.path.join(f.mnt, "datasets", "new")) ==
                       data("n1", 200000), "a new file")
            write_file(p, data("n2", 250000))
            eventually(lambda: content(os.path.join(f.mnt, "datasets", "new")) ==
                       data("n2", 250000), "a rewritten file")
            # a snapshot
            os.mkdir(os.path.join(w.mnt, "datasets", "ds"))
            write_file(os.path.join(w.mnt, "datasets", "ds", "x"), data("x", 100000))
            os.mkdir(os.path.join(w.mnt, "datasets", "ds", ".aifs", "snapshots", "v1"))
            eventually(lambda: content(os.path.join(f.mnt, "datasets", "ds", ".aifs", "snapshots",
                                                    "v1", "x")) == data("x", 100000),
                       "a snapshot")
            # checkpoint versions
            ck = os.path.join(w.mnt, "checkpoints", "model.pt")
            write_file(ck, data("m1", 400000))
            write_file(ck, data("m2", 400000))
            eventually(lambda: content(os.path.join(f.mnt, "checkpoints", "model.pt@v2")) ==
                       data("m2", 400000), "checkpoint version 2")
            eq(content(os.path.join(f.mnt, "checkpoints", "model.pt@v1")), data("m1", 400000),
               "checkpoint version 1 on the follower")
            # journal records
            log = os.path.join(w.mnt, "audit", "serve.log")
            with open(log, "a") as fh:
                fh.write("request 1\n")
            eventually(lambda: content(os.path.join(f.mnt, "audit", "serve.log")) ==
                       b"request 1\n", "a sealed journal file")
            # a removal
            os.unlink(os.path.join(w.mnt, "datasets", "before"))
            eventually(lambda: not os.path.exists(os.path.join(f.mnt, "datasets", "before")),
                       "a removed file")
            # the follower is read-only and says how far behind it is
            try:
                write_file(os.path.join(f.mnt, "datasets", "mine"), b"x")
                raise Fail("a write on the follower succeeded")
            except OSError as e:
                eq(e.errno, 30, "a write on the follower: EROFS")
            rc, out = run([AIFSCTL_BIN, "status", f.mnt])
            eq(rc, 0, "aifsctl status on the follower: %s" % out)
            check("follower   read-only" in out and "behind" in out,
                  "aifsctl status shows the follower's lag: %s" % out)
        finally:
            f.close()


@test
def follower_restarts_from_its_replica():
    skip_native()
    keep = tempfile.mkdtemp(prefix="aifs-replica-")
    replica = os.path.join(keep, "replica")
    try:
        with Writer() as w:
            write_file(os.path.join(w.mnt, "datasets", "a"), data("a", 100000))
            time.sleep(2)
            f = Follower(w.spec, replica=replica)
            try:
                eventually(lambda: os.path.exists(os.path.join(f.mnt, "datasets", "a")), "file a")
            finally:
                f.close()
            # the writer goes on while no follower runs
            write_file(os.path.join(w.mnt, "datasets", "b"), data("b", 100000))
            time.sleep(2)
            g = Follower(w.spec, replica=replica)      # catches up from its follow.seq
            try:
                eventually(lambda: content(os.path.join(g.mnt, "datasets", "b")) ==
                           data("b", 100000), "a file written while the follower was down")
                eq(content(os.path.join(g.mnt, "datasets", "a")), data("a", 100000), "file a")
            finally:
                g.close()
    finally:
        shutil.rmtree(keep, ignore_errors=True)


@test
def follow_needs_a_rados_spec():
    skip_native()
    d = tempfile.mkdtemp(prefix="aifs-follow-")
    try:
        rc, out = run([AIFS_BIN, "--follow", "/srv/nothing", d])
        check(rc != 0 and "expected rados:POOL/NAME" in out,
              "aifs --follow with a path: %d %s" % (rc, out))
    finally:
        os.rmdir(d)


@test
def fail_over_to_a_follower_loses_nothing_acknowledged():
    """The writer's host is lost: a follower's replica becomes the writer
    (its lock broken, mounted read-write), and another follower follows the
    new writer once mounted again."""
    skip_native()
    keep = tempfile.mkdtemp(prefix="aifs-replica-")
    r1 = os.path.join(keep, "r1")
    new_mnt = os.path.join(keep, "mnt")
    os.mkdir(new_mnt)
    new = None
    try:
        with Writer(opts="remote_sync=on") as w:
            a = os.path.join(w.mnt, "datasets", "a")
            with open(a, "wb") as fh:
                fh.write(data("a", 200000))
                fh.flush()
                os.fsync(fh.fileno())       # acknowledged: in the pool
            f1 = Follower(w.spec, replica=r1)
            f2 = Follower(w.spec)
            try:
                for f in (f1, f2):
                    eventually(lambda: content(os.path.join(f.mnt, "datasets", "a")) ==
                               data("a", 200000), "file a on a follower")
                ck = os.path.join(w.mnt, "checkpoints", "m.pt")
                write_file(ck, data("m", 300000))       # a version: committed durably
                w.kill9()                               # the writer's host is lost
                f1.close_keep()
                rc, out = run([AIFSCTL_BIN, "promote-primary", "--ceph-conf", CLUSTER.conf, r1])
                eq(rc, 0, "aifsctl promote-primary of the replica: %s" % out)
                check("broke the lock of" in out, "promote-primary breaks the dead writer's "
                      "lock: %s" % out)
                new = subprocess.Popen([AIFS_BIN, r1, new_mnt, "-f", "-o", "allow_other"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                deadline = time.time() + 60
                while not os.path.ismount(new_mnt):
                    check(new.poll() is None and time.time() < deadline,
                          "the promoted replica mounts read-write")
                    time.sleep(0.1)
                eq(content(os.path.join(new_mnt, "datasets", "a")), data("a", 200000),
                   "file a on the new writer")
                eq(content(os.path.join(new_mnt, "checkpoints", "m.pt@v1")), data("m", 300000),
                   "the checkpoint version on the new writer")
                write_file(os.path.join(new_mnt, "datasets", "b"), data("b", 100000))
                # the other follower notices, and follows the new writer once remounted
                spec = w.spec
                f2.close_keep()
                f2.__init__(spec, replica=f2.replica)
                eventually(lambda: content(os.path.join(f2.mnt, "datasets", "b")) ==
                           data("b", 100000), "file b of the new writer on the other follower")
                eq(content(os.path.join(f2.mnt, "datasets", "a")), data("a", 200000),
                   "file a on the other follower after the fail-over")
            finally:
                f1.close()
                f2.close()
                if new is not None:
                    subprocess.run(["umount", new_mnt])
                    new.wait(timeout=60)
    finally:
        shutil.rmtree(keep, ignore_errors=True)


if __name__ == "__main__":
    with ceph.Cluster() as c:
        CLUSTER = c
        main()
