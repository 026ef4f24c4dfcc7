#!/usr/bin/python3
"""Failure paths (issue 19, item 6): a metadata commit that fails changes nothing in
memory, on disk or in the space counts; the store checks clean after it."""

import errno
import os
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Fail, Store, check, eq, main, raises, read_all, skip_native, test)  # noqa: E402
from failcase import (sealed, write_ok, arm, versions, wait_versions, save,  # noqa: E402
                      fsynced_file, failing_commit, after_remount_and_fsck, churn,
                      zip_bytes, APPEND)


# ------------------- item 6: memory changes only after a commit that succeeded


@test
def unlink_whose_commit_fails_keeps_the_file():
    skip_native()
    with Store() as s:
        for area in ("plain", "checkpoints"):
            d = os.path.join(s.mnt, area) if area == "checkpoints" else s.work(area)
            p = os.path.join(d, "keep.bin")
            content = bytes(range(256)) * 4096            # 1 MiB, in segments
            fsynced_file(p, content)
            failing_commit(s, os.unlink, p, what="unlink (%s) whose commit fails" % area)

            def checks(when, p=p, content=content, d=d):
                eq(os.stat(p).st_nlink, 1, "%s: link count %s" % (p, when))
                eq(read_all(p), content, "%s: content %s" % (p, when))
            checks("right after the failure")
            churn(d)
            after_remount_and_fsck(s, checks)
            os.unlink(p)
            check(not os.path.lexists(p), "%s: expected gone after an unlink that commits" % p)


@test
def restore_whose_commit_fails_keeps_the_content():
    """user.aifs.restore=1 whose commit fails: the file keeps serving version 2,
    in memory as on disk, and nothing it or version 1 reads is given back."""
    skip_native()
    with Store() as s:
        d = os.path.join(s.mnt, "checkpoints")
        p = os.path.join(d, "model.pt")
        v1, v2 = bytes(range(256)) * 4096, bytes(range(255, -1, -1)) * 5000
        fsynced_file(p, v1)
        fsynced_file(p, v2)
        wait_versions(d, "model.pt", [1, 2], "two saves")
        arm(s, "meta_commit:2")     # the first marks the save under way
        try:
            raises(errno.EIO, os.setxattr, p, "user.aifs.restore", b"1",
                   what="restore of version 1 whose commit fails")
        finally:
            arm(s, "")

        def checks(when):
            eq(os.stat(p).st_size, len(v2), "size %s" % when)
            eq(read_all(p), v2, "content %s" % when)
            eq(versions(d, "model.pt"), [1, 2], "versions %s" % when)
        checks("right after the failure")
        churn(d)
        after_remount_and_fsck(s, checks)
        os.setxattr(p, "user.aifs.restore", b"1")
        eq(read_all(p), v1, "content after a restore that commits")


@test
def truncate_whose_commit_fails_keeps_the_content():
    skip_native()
    with Store() as s:
        d = s.work("plain")
        p = os.path.join(d, "data.bin")
        content = bytes(range(251)) * 5000
        fsynced_file(p, content)
        failing_commit(s, os.truncate, p, 1000, what="truncate whose commit fails")

        def checks(when):
            eq(os.stat(p).st_size, len(content), "size %s" % when)
            eq(read_all(p), content, "content %s" % when)
        checks("right after the failure")
        churn(d)
        after_remount_and_fsck(s, checks)


@test
def truncate_of_buffered_bytes_whose_commit_fails_keeps_them():
    """The buffer is stored by its own commit, then the truncate's commit fails."""
    skip_native()
    with Store() as s:
        d = s.work("plain")
        p = os.path.join(d, "data.bin")
        content = os.urandom(300 << 10)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            eq(os.write(fd, content), len(content), "buffered write")
            arm(s, "meta_commit:2")
            try:
                raises(errno.EIO, os.truncate, p, 1000, what="truncate whose second commit fails")
            finally:
                arm(s, "")
        finally:
            os.close(fd)

        def checks(when):
            eq(read_all(p), content, "content %s" % when)
        checks("right after the failure")
        churn(d)
        after_remount_and_fsck(s, checks)


@test
def rename_whose_commit_fails_keeps_both_names():
    skip_native()
    with Store() as s:
        d = s.work("plain")
        a, b, c = (os.path.join(d, n) for n in ("a", "b", "c"))
        fsynced_file(a, b"content of a")
        fsynced_file(c, b"content of c")
        failing_commit(s, os.rename, a, b, what="rename to a new name whose commit fails")
        failing_commit(s, os.rename, a, c, what="rename over a file whose commit fails")

        def checks(when):
            eq(sorted(os.listdir(d)), ["a", "c"], "listing %s" % when)
            eq(read_all(a), b"content of a", "a %s" % when)
            eq(read_all(c), b"content of c", "c %s" % when)
        checks("right after the failure")
        # the daemon's link counts are untouched: a link made now counts 2
        os.link(c, os.path.join(d, "c2"))
        eq(os.stat(c).st_nlink, 2, "link count of c after a new link")
        os.unlink(os.path.join(d, "c2"))
        after_remount_and_fsck(s, checks)


@test
def link_whose_commit_fails_adds_no_name():
    skip_native()
    with Store(opts="entry_timeout=0") as s:
        d = s.work("plain")
        a = os.path.join(d, "a")
        fsynced_file(a, b"linked")
        failing_commit(s, os.link, a, os.path.join(d, "b"), what="link whose commit fails")

        def checks(when):
            eq(os.listdir(d), ["a"], "listing %s" % when)
            eq(os.stat(a).st_nlink, 1, "link count %s" % when)
        checks("right after the failure")
        os.link(a, os.path.join(d, "b"))
        eq(os.stat(a).st_nlink, 2, "link count after a link that commits")
        os.unlink(os.path.join(d, "b"))
        after_remount_and_fsck(s, checks)


@test
def snapshot_create_and_drop_whose_commit_fails():
    skip_native()
    with Store() as s:
        ds = os.path.join(s.mnt, "datasets", "set")
        os.mkdir(ds)
        fsynced_file(os.path.join(ds, "x"), b"frozen")
        snaps = os.path.join(ds, ".aifs", "snapshots")
        t1 = os.path.join(snaps, "t1")

        def failing(fn, undo, what):
            # The fail point fails the next commit of the daemon, whichever it is; a
            # background one (the release of a file just closed, the census of a snapshot
            # just made) may take it first: then the operation succeeded, is undone and
            # is tried again, after a longer pause each time for the background
            # commits that the undo starts (a slow build's census outlasts a short one).
            for attempt in range(10):
                arm(s, "meta_commit:1")
                try:
                    fn(t1)
                except OSError as e:
                    eq(e.errno, errno.EIO, "errno of the %s" % what)
                    return
                finally:
                    arm(s, "")
                undo(t1)
                time.sleep(0.05 * (attempt + 1))
            raise Fail("%s: never failed in 10 tries" % what)
        failing(os.mkdir, os.rmdir, "snapshot whose commit fails")
        eq(os.listdir(snaps), [], "snapshots after a failed snapshot")
        os.mkdir(t1)
        failing(os.rmdir, os.mkdir, "snapshot drop whose commit fails")

        def checks(when):
            eq(os.listdir(snaps), ["t1"], "snapshots %s" % when)
            eq(read_all(os.path.join(snaps, "t1", "x")), b"frozen", "file in the snapshot %s" % when)
        checks("right after the failed drop")
        after_remount_and_fsck(s, checks)
        os.rmdir(os.path.join(snaps, "t1"))
        eq(os.listdir(snaps), [], "snapshots after a drop that commits")


@test
def create_and_mkdir_whose_commit_fails_leave_no_name():
    skip_native()
    with Store(opts="entry_timeout=0") as s:
        d = s.work("plain")
        p = os.path.join(d, "new")
        failing_commit(s, os.open, p, os.O_WRONLY | os.O_CREAT, 0o644, what="create whose commit fails")
        failing_commit(s, os.mkdir, p + ".d", what="mkdir whose commit fails")
        failing_commit(s, os.symlink, "target", p + ".l", what="symlink whose commit fails")

        def checks(when):
            eq(os.listdir(d), [], "listing %s" % when)
        checks("right after the failure")
        after_remount_and_fsck(s, checks)
        fsynced_file(p, b"created after")
        eq(read_all(p), b"created after", "a create that commits")


@test
def setxattr_whose_commit_fails_changes_nothing():
    skip_native()
    with Store() as s:
        d = s.work("plain")
        p = os.path.join(d, "f")
        fsynced_file(p, b"x")
        os.setxattr(p, "user.kept", b"old")
        failing_commit(s, os.setxattr, p, "user.new", b"v", what="setxattr of a new name whose commit fails")
        failing_commit(s, os.setxattr, p, "user.kept", b"changed", what="setxattr replace whose commit fails")
        failing_commit(s, os.removexattr, p, "user.kept", what="removexattr whose commit fails")
        failing_commit(s, os.setxattr, d, "user.aifs.area", b"checkpoint",
                       what="setxattr user.aifs.area whose commit fails")

        def checks(when):
            eq(sorted(x for x in os.listxattr(p) if not x.startswith("user.aifs.")), ["user.kept"],
               "xattr names %s" % when)
            eq(os.getxattr(p, "user.kept"), b"old", "user.kept %s" % when)
            eq(os.getxattr(d, "user.aifs.area"), b"plain", "area of the directory %s" % when)
        checks("right after the failure")
        after_remount_and_fsck(s, checks)


@test
def journal_seal_whose_commit_fails_is_sealed_later():
    skip_native()
    with Store() as s:
        p = os.path.join(s.mnt, "audit", "srv.log")
        fd = os.open(p, APPEND, 0o644)
        write_ok(fd, b"line\n", "write")
        os.fsync(fd)
        arm(s, "meta_commit:1+")
        os.close(fd)                            # the release's seal cannot commit
        time.sleep(0.5)
        arm(s, "")
        check(not sealed(p), "%s: expected unsealed while its seal could not be committed" % p)
        s.remount()
        eq(read_all(p), b"line\n", "content after a remount")


@test
def version_commit_that_fails_serves_last_complete_version():
    skip_native()
    with Store() as s:
        d = os.path.join(s.mnt, "checkpoints")
        p = os.path.join(d, "model.pt")
        v1 = zip_bytes(1)
        save(p, v1)
        wait_versions(d, "model.pt", [1], "versions after the first save")
        for label, content in (("complete", zip_bytes(2)), ("torn", zip_bytes(3)[:150000])):
            fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
            try:
                eq(os.write(fd, content), len(content), "write of the %s save" % label)
                os.fsync(fd)
                arm(s, "meta_commit:1")
            finally:
                raises(errno.EIO, os.close, fd, what="close of a %s save whose version commit fails" % label)
            arm(s, "")
            eq(versions(d, "model.pt"), [1], "versions after a failed commit of a %s save" % label)
            eq(read_all(os.path.join(d, ".aifs", "versions", "model.pt", "1")), v1,
               "version 1 after a failed commit of a %s save" % label)
            eq(read_all(p), v1, "the name right after a failed commit of a %s save" % label)
            s.remount()
            eq(read_all(p), v1, "the name after a failed commit of a %s save and a remount" % label)
            eq(read_all(os.path.join(d, ".aifs", "versions", "model.pt", "1")), v1,
               "version 1 after the remount")
        s.unmount()
        s.fsck_clean("fsck after failed version commits")


@test
def save_cut_short_by_enospc_serves_last_complete_version_at_once():
    skip_native()
    with Store() as s:
        d = os.path.join(s.mnt, "checkpoints")
        p = os.path.join(d, "model.pt")
        v1 = zip_bytes(1)
        save(p, v1)
        wait_versions(d, "model.pt", [1], "versions after the first save")
        arm(s, "tier_append:1+")                # the disk is full from now on
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        try:
            for i in range(0, 3 << 20, 1 << 20):   # a few MiB: some appends happen during writes
                try:
                    os.write(fd, zip_bytes(2, 1 << 20)[:1 << 20])
                except OSError as e:
                    eq(e.errno, errno.ENOSPC, "errno of a write on a full disk")
                    break
        finally:
            raises((errno.ENOSPC, errno.EIO), os.close, fd, what="close of a save on a full disk")
        eq(read_all(p), v1, "the name right after the save failed: its last complete version")
        arm(s, "")
        eq(versions(d, "model.pt"), [1], "versions after the failed save")
        s.remount()
        eq(read_all(p), v1, "the name after a remount")
        s.unmount()
        s.fsck_clean("fsck after a save cut short by ENOSPC")


if __name__ == "__main__":
    main()
