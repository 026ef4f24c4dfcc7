#!/usr/bin/python3
"""Failure paths (issue 19): forks of a logging process, failed replies and commits, odd mounts."""

import errno
import io
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import zipfile

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFSCTL_BIN, Fail, Skip, Store, check, eq, main, mounted,  # noqa: E402
                     raises, read_all, run, skip_native, test)

APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND


# ------------------------------------------------------------------ helpers

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


# --------------------------------------------------- item 4: seal on fork

@test
def journal_fork_child_exit_does_not_seal():
    skip_native()
    with Store() as s:
        p = os.path.join(s.mnt, "audit", "srv.log")
        fd = os.open(p, APPEND, 0o644)
        try:
            write_ok(fd, b"parent 1\n", "first write")
            pid = os.fork()
            if pid == 0:
                os._exit(0)             # the exit closes the child's copy: FLUSH
            _, st = os.waitpid(pid, 0)
            eq(os.waitstatus_to_exitcode(st), 0, "child exit status")
            write_ok(fd, b"parent 2\n", "write after a forked child exited")
            pid = os.fork()
            if pid == 0:
                try:
                    os.write(fd, b"child\n")
                finally:
                    os._exit(0)
            os.waitpid(pid, 0)
            write_ok(fd, b"parent 3\n", "write after a child wrote and exited")
        finally:
            os.close(fd)
        seals(p, "fork + exit")
        eq(read_all(p), b"parent 1\nparent 2\nchild\nparent 3\n", "content of the journal file")


@test
def journal_subprocess_does_not_seal():
    skip_native()
    with Store() as s:
        p = os.path.join(s.mnt, "audit", "srv.log")
        fd = os.open(p, APPEND, 0o644)
        try:
            write_ok(fd, b"a\n", "first write")
            # close_fds: the child closes the descriptor before exec
            r = subprocess.run(["true"], close_fds=True)
            eq(r.returncode, 0, "true")
            write_ok(fd, b"b\n", "write after subprocess.run (close_fds)")
            # pass_fds: the child writes through it, then exits
            r = subprocess.run(["sh", "-c", "echo child >&%d" % fd], pass_fds=(fd,))
            eq(r.returncode, 0, "sh writing through the inherited descriptor")
            write_ok(fd, b"c\n", "write after a subprocess wrote through the descriptor")
        finally:
            os.close(fd)
        seals(p, "subprocess.run")
        eq(read_all(p), b"a\nb\nchild\nc\n", "content of the journal file")


@test
def journal_multiprocessing_does_not_seal():
    skip_native()
    with Store() as s:
        p = os.path.join(s.mnt, "audit", "srv.log")
        fd = os.open(p, APPEND, 0o644)
        ctx = multiprocessing.get_context("fork")
        try:
            write_ok(fd, b"a\n", "first write")
            w = ctx.Process(target=child_exit)
            w.start()
            w.join()
            eq(w.exitcode, 0, "idle worker exit code")
            write_ok(fd, b"b\n", "write after an idle worker exited")
            ws = [ctx.Process(target=child_write_exit, args=(fd, b"w%d\n" % i)) for i in range(3)]
            for w in ws:
                w.start()
                w.join()
                eq(w.exitcode, 0, "writing worker exit code")
            write_ok(fd, b"c\n", "write after three writing workers exited")
        finally:
            os.close(fd)
        seals(p, "multiprocessing")
        eq(read_all(p), b"a\nb\nw0\nw1\nw2\nc\n", "content of the journal file")


@test
def journal_prefork_workers_outlive_parent_close():
    """A pre-forking server: the parent closes its copy, the workers keep logging."""
    skip_native()
    with Store() as s:
        p = os.path.join(s.mnt, "audit", "srv.log")
        fd = os.open(p, APPEND, 0o644)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(w)
                os.read(r, 1)           # wait until the parent closed its copy
                os.write(fd, b"worker\n")
                code = 0
            finally:
                os._exit(code)
        os.close(r)
        os.close(fd)
        check(not sealed(p), "%s: expected writable while a forked worker holds it open" % p)
        os.write(w, b"x")
        os.close(w)
        _, st = os.waitpid(pid, 0)
        eq(os.waitstatus_to_exitcode(st), 0, "worker exit status (1: its write failed)")
        seals(p, "pre-forked worker exit")
        eq(read_all(p), b"worker\n", "content of the journal file")


@test
def journal_dup_close_does_not_seal():
    skip_native()
    with Store() as s:
        p = os.path.join(s.mnt, "audit", "srv.log")
        fd = os.open(p, APPEND, 0o644)
        try:
            write_ok(fd, b"1\n", "first write")
            os.close(os.dup(fd))
            write_ok(fd, b"2\n", "write after close of a dup")
            fd2 = os.dup(fd)
            os.close(fd)
            fd = fd2
            write_ok(fd, b"3\n", "write through the dup after close of the original")
        finally:
            os.close(fd)
        seals(p, "dup + close")
        eq(read_all(p), b"1\n2\n3\n", "content of the journal file")


# ------------------------------------ item 7: a lost reply to an open

@test
def open_reply_lost_checkpoint_session_still_commits():
    """An open whose reply fails (interrupted) must not stay counted as a writer."""
    skip_native()
    with Store() as s:
        d = os.path.join(s.mnt, "checkpoints")
        p = os.path.join(d, "model.pt")
        save(p, b"version one")
        wait_versions(d, "model.pt", [1], "versions after the first save")
        fd = os.open(p, os.O_WRONLY)            # a session's first writer
        arm(s, "open_reply:1=EIO")
        raises(errno.EIO, os.open, p, os.O_WRONLY, what="open(O_WRONLY) whose reply is lost")
        try:
            eq(os.pwrite(fd, b"version two", 0), 11, "write through the first writer")
        finally:
            os.close(fd)
        # the open that failed is not a writer: the session ends with this close
        wait_versions(d, "model.pt", [1, 2], "versions after the writer's close")
        eq(read_all(p), b"version two", "content after the session")
        s.remount()
        eq(versions(d, "model.pt"), [1, 2], "versions after a remount")
        s.unmount()
        s.fsck_clean("fsck after a lost open reply")


@test
def create_reply_lost_checkpoint_file_commits():
    skip_native()
    # the kernel keeps the name it could not create as a negative entry for
    # entry_timeout: none here, so that the next open looks it up
    with Store(opts="entry_timeout=0") as s:
        d = os.path.join(s.mnt, "checkpoints")
        p = os.path.join(d, "model.pt")
        arm(s, "open_reply:1=EIO")
        raises(errno.EIO, os.open, p, os.O_WRONLY | os.O_CREAT, 0o644, what="create whose reply is lost")
        save(p, b"saved after a lost create reply")
        wait_versions(d, "model.pt", [1], "versions after the save's close")
        s.remount()
        eq(read_all(p), b"saved after a lost create reply", "content after a remount")
        s.unmount()
        s.fsck_clean("fsck after a lost create reply")


@test
def open_reply_lost_journal_file_still_seals():
    skip_native()
    with Store() as s:
        p = os.path.join(s.mnt, "audit", "srv.log")
        fd = os.open(p, APPEND, 0o644)
        try:
            write_ok(fd, b"line\n", "write")
            arm(s, "open_reply:1=EIO")
            raises(errno.EIO, os.open, p, os.O_WRONLY | os.O_APPEND, what="open whose reply is lost")
            write_ok(fd, b"more\n", "write after the lost open")
        finally:
            os.close(fd)
        seals(p, "a lost open reply")
        eq(read_all(p), b"line\nmore\n", "content of the journal file")


# ------------------- item 3: a write that fails does not grow the file

@test
def write_that_fails_to_store_does_not_grow_the_file():
    """With write_behind=off (or near a full disk) the write that fills the
    buffer stores it before it returns, and fails if that fails."""
    skip_native()
    with Store(opts="write_behind=off") as s:
        for area in ("plain", "datasets", "checkpoints"):
            d = s.work("w") if area == "plain" else os.path.join(s.mnt, area)
            p = os.path.join(d, "grow")
            head = os.urandom(3 << 20)
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                for i in range(3):
                    eq(os.write(fd, head[i << 20:(i + 1) << 20]), 1 << 20, "%s: write %d" % (area, i))
                # the next 1 MiB fills the 4 MiB write buffer, whose store
                # fails; the kernel may split the write into several requests,
                # so it fails whole (ENOSPC) or returns what was stored before
                arm(s, "tier_append:1=ENOSPC")
                chunk = os.urandom(1 << 20)
                try:
                    n = os.pwrite(fd, chunk, 3 << 20)
                except OSError as e:
                    eq(errno.errorcode.get(e.errno), "ENOSPC", "%s: errno of the failed write" % area)
                    n = 0
                check(n < len(chunk), "%s: a write whose bytes cannot be stored: expected ENOSPC "
                      "or a short count, saw all %d bytes written" % (area, n))
                eq(os.fstat(fd).st_size, (3 << 20) + n, "%s: size after the failed write" % area)
                eq(os.stat(p).st_size, (3 << 20) + n, "%s: size by path after the failed write" % area)
                rest = chunk[n:]
                eq(os.pwrite(fd, rest, (3 << 20) + n), len(rest),
                   "%s: the rest of the write once the disk has room" % area)
            finally:
                os.close(fd)
            eq(read_all(p), head + chunk, "%s: content after the retried write" % area)
        s.unmount()
        s.fsck_clean("fsck after failed writes")



@test
def a_buffer_stored_behind_the_write_fails_at_fsync_and_keeps_every_byte():
    """Write-behind: the write that fills a 4 MiB buffer returns at once and the
    buffer is stored behind it; a failure to store it (the append, or the
    commit of its map) is the error of the next fsync, and its bytes stay
    readable and are stored by the fsync after."""
    skip_native()
    with Store() as s:
        kept = {}
        for area in ("plain", "checkpoints"):
            d = s.work("wb") if area == "plain" else os.path.join(s.mnt, area)
            for spec, err in (("tier_append:1=ENOSPC", errno.ENOSPC), ("meta_commit:1", errno.EIO)):
                what = "%s, %s" % (area, spec)
                p = os.path.join(d, "behind-" + spec.split(":")[0])
                data = os.urandom(6 << 20)
                fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    for i in range(3):
                        write_ok(fd, data[i << 20:(i + 1) << 20], what + ": write %d" % i)
                    if spec.startswith("tier_append"):
                        arm(s, spec)            # the append of the full buffer fails
                    write_ok(fd, data[3 << 20:4 << 20], what + ": the write that fills the buffer")
                    eq(os.pread(fd, 4 << 20, 0), data[:4 << 20], what + ": the buffer in flight, read")
                    write_ok(fd, data[4 << 20:], what + ": 2 MiB into the next buffer")
                    if spec.startswith("meta_commit"):
                        arm(s, spec)            # the commit of its map fails
                    raises(err, os.fsync, fd, what=what + ": fsync after the failed store")
                    eq(os.fstat(fd).st_size, 6 << 20, what + ": size after the failed store")
                    eq(os.pread(fd, 6 << 20, 0), data, what + ": content after the failed store")
                    os.fsync(fd)                # the bytes in flight are stored now
                finally:
                    os.close(fd)
                eq(read_all(p), data, what + ": content after the fsync that stored them")
                kept[p] = data
            if area == "checkpoints":
                for p in kept:
                    if os.path.dirname(p) == d:
                        eq(versions(d, os.path.basename(p)), [1], what + ": versions")

        def checks(when):
            for p, data in kept.items():
                eq(read_all(p), data, "%s %s" % (p, when))
        after_remount_and_fsck(s, checks)


@test
def a_store_behind_that_keeps_failing_fails_the_next_full_write_and_close():
    """While the disk stays full, the write that fills the next buffer fails
    (it did not happen: the size stays), as does close(); the bytes that were
    acknowledged stay and are stored once the disk has room."""
    skip_native()
    with Store() as s:
        d = s.work("wb")
        p = os.path.join(d, "full")
        data = os.urandom(8 << 20)
        fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            arm(s, "tier_append:1+")            # the disk is full from now on
            for i in range(7):
                write_ok(fd, data[i << 20:(i + 1) << 20], "write %d (the 4th fills a buffer)" % i)
            try:
                n = os.write(fd, data[7 << 20:])
            except OSError as e:
                eq(errno.errorcode.get(e.errno), "ENOSPC", "errno of the write that fills the next buffer")
                n = 0
            check(n < 1 << 20, "the write that fills the next buffer while the one before cannot be "
                  "stored: expected ENOSPC or a short count, saw all %d bytes written" % n)
            eq(os.fstat(fd).st_size, (7 << 20) + n, "size after the failed write")
            eq(os.pread(fd, 8 << 20, 0), data[:(7 << 20) + n], "content after the failed write")
        finally:
            raises(errno.ENOSPC, os.close, fd, what="close while the disk is full")
        arm(s, "")
        fd = os.open(p, os.O_RDWR)
        try:
            # stores what close could not; it also reports the failure of the
            # release that came after close, if that came before the disk had room
            try:
                os.fsync(fd)
            except OSError as e:
                eq(errno.errorcode.get(e.errno), "ENOSPC", "errno of the first fsync after it")
            os.fsync(fd)
        finally:
            os.close(fd)
        after_remount_and_fsck(s, lambda when: eq(read_all(p), data[:(7 << 20) + n],
                                                  "content %s" % when))


# ------------------- item 9: a save killed after its truncating open

@test
def save_killed_after_truncating_open_keeps_the_last_good_version():
    skip_native()
    with Store() as s:
        d = os.path.join(s.mnt, "checkpoints")
        p = os.path.join(d, "model.pt")
        good = zip_bytes(7)
        save(p, good)
        wait_versions(d, "model.pt", [1], "versions after the first save")
        # torch.save's open(O_TRUNC), then the writer dies before writing
        child = subprocess.Popen([sys.executable, "-c",
                                  "import os, signal; fd = os.open(%r, os.O_WRONLY | os.O_TRUNC);"
                                  "os.kill(os.getpid(), signal.SIGKILL)" % p])
        child.wait()
        wait_versions(d, "model.pt", [1, 2], "versions after the killed save")
        eq(os.getxattr(os.path.join(d, ".aifs", "versions", "model.pt", "2"), "user.aifs.complete"),
           b"false", "user.aifs.complete of version 2 (only truncated)")
        eq(read_all(p), good, "model.pt after a save killed after its truncating open")
        s.remount()
        eq(read_all(p), good, "model.pt after a remount")


# ------------------- item 6: memory changes only after a commit that succeeded

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


def zip_bytes(seed, n=200000):
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("data/%s" % seed, bytes([seed % 251]) * n)
    return buf.getvalue()


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


# ------------------------------------------- item 11: odd mount points, read-only media

def aifs_run(*args, timeout=60):
    from harness import AIFS_BIN
    return run([AIFS_BIN] + [str(a) for a in args], timeout=timeout)


@test
def regular_file_as_mount_point_is_refused():
    skip_native()
    with Store(mount=False) as s:
        f = os.path.join(s.base, "file")
        with open(f, "wb") as fh:
            fh.write(b"not a directory")
        rc, out = aifs_run(s.store, f)
        eq(rc, 1, "aifs STORE FILE: exit status (output %r)" % out)
        check("Not a directory" in out, "aifs STORE FILE: expected 'Not a directory', saw %r" % out)
        eq(read_all(f), b"not a directory", "the file named as mount point")


@test
def store_on_read_only_media_mounts_ro_and_checks():
    skip_native()
    with Store() as s:
        p = os.path.join(s.mnt, "datasets", "f.bin")
        content = bytes(range(256)) * 8192
        fsynced_file(p, content)
        s.unmount()
        ro = os.path.join(s.base, "ro")
        os.mkdir(ro)
        rc, out = run(["mount", "--bind", s.store, ro])
        eq(rc, 0, "mount --bind: %s" % out)
        try:
            rc, out = run(["mount", "-o", "remount,bind,ro", ro])
            eq(rc, 0, "remount,bind,ro: %s" % out)
            raises(errno.EROFS, os.mkdir, os.path.join(ro, "x"), what="mkdir on the read-only bind mount")
            # read-write: refused, saying how to mount it
            rc, out = aifs_run(ro, s.mnt, "-f")
            eq(rc, 1, "aifs of a read-only store without -o ro: exit status (%r)" % out)
            check("-o ro" in out, "aifs of a read-only store: expected a hint at -o ro, saw %r" % out)
            # -o ro: mounts and serves every byte
            real = s.store
            s.store = ro
            try:
                s.mount("ro")
                eq(read_all(p), content, "content through the read-only mount")
                raises(errno.EROFS, os.mkdir, os.path.join(s.mnt, "datasets", "d"),
                       what="mkdir in a read-only mount")
                s.unmount()
                s.fsck_clean("fsck of a store on read-only media")
                rc, out = run([AIFSCTL_BIN, "fsck", "--repair", ro])
                eq(rc, 1, "fsck --repair on read-only media: exit status (%r)" % out)
                check("read-only" in out, "fsck --repair on read-only media: expected to say "
                      "read-only, saw %r" % out)
            finally:
                s.store = real
        finally:
            if s.proc is not None:
                s.unmount(check=False)
            run(["umount", ro])
        s.mount()
        eq(read_all(p), content, "content after a read-write mount again")


# ------------------------------------------- items 10 and 8: fsck after a crash, --repair

@test
def fsck_notes_crash_leftovers_and_exits_0():
    skip_native()
    with Store() as s:
        d = s.work("plain")
        fsynced_file(os.path.join(d, "f"), os.urandom(3 << 20))
        fd = os.open(os.path.join(d, "g"), os.O_WRONLY | os.O_CREAT, 0o644)
        arm(s, "meta_commit:1+")                # appended, never committed: a crash's leftover
        try:
            os.write(fd, os.urandom(5 << 20))
        except OSError as e:
            eq(e.errno, errno.EIO, "errno of a write whose commit fails")
        s.kill9()
        os.close(fd)
        rc, out = s.fsck()
        eq(rc, 0, "fsck exit status after a kill -9 (output %r)" % out[-800:])
        check("note: " in out and "referenced by nothing" in out,
              "fsck: expected a note on unreferenced bytes, saw %r" % out[-800:])
        lines = out.strip().splitlines()
        check("clean" in lines[-1], "fsck: expected a final line with 'clean', saw %r" % lines[-1])
        check(all(ln.startswith("note: ") for ln in lines[:-1] if "fsck" not in ln),
              "fsck: expected only notes before the summary, saw %r" % out[-800:])


def segments(s):
    d = os.path.join(s.store, "hot")
    return sorted(os.path.join(d, n) for n in os.listdir(d) if n.startswith("seg-"))


def quarantined(s, ino, name):
    """Path of a file that fsck --repair moved to lost+found."""
    return os.path.join(s.mnt, "lost+found", "%d-%s" % (ino, name))


@test
def fsck_repair_drops_extents_outside_their_segment():
    skip_native()
    with Store() as s:
        d = s.work("plain")
        keep = os.urandom(1 << 20)
        fsynced_file(os.path.join(d, "a"), keep)
        fsynced_file(os.path.join(d, "b"), os.urandom(4 << 20))
        ino = os.stat(os.path.join(d, "b")).st_ino
        s.unmount()
        seg = segments(s)[-1]
        size = os.path.getsize(seg)
        os.truncate(seg, size - (2 << 20))      # the disk lost the segment's end
        rc, out = s.fsck()
        eq(rc, 1, "fsck of a truncated segment: exit status (%r)" % out[-800:])
        check("outside segment" in out, "fsck: expected extents outside their segment, saw %r" % out[-800:])
        s.mount()                               # warns once, and serves what is intact
        eq(read_all(os.path.join(d, "a")), keep, "the intact file on the damaged store")
        s.unmount()
        with open(s.log, "rb") as f:
            log = f.read().decode("utf-8", "replace").split("=== mount 2")[-1]
        eq(log.count("past the end of their segment"), 1,
           "warnings at the mount of a store with truncated segments (log %r)" % log[-600:])
        rc, out = s.fsck(repair=True)
        eq(rc, 0, "fsck --repair: exit status when every problem was repaired (%r)" % out[-800:])
        check("extent dropped" in out and "0 not repaired" in out,
              "fsck --repair: expected each extent said dropped and '0 not repaired', saw %r" % out[-800:])
        check("moved to /lost+found/%d-b" % ino in out,
              "fsck --repair: expected b said moved to lost+found, saw %r" % out[-800:])
        check("repaired where possible" not in out, "fsck --repair: the blanket phrase is gone: %r" % out)
        s.fsck_clean("fsck after --repair")
        s.mount()
        eq(read_all(os.path.join(d, "a")), keep, "the intact file after the repair")
        check(not os.path.exists(os.path.join(d, "b")), "the damaged file left its directory")
        q = quarantined(s, ino, "b")
        eq((os.stat(q).st_ino, os.stat(q).st_size), (ino, 4 << 20),
           "the damaged file in lost+found (inode, size)")
        read_all(q)                             # what was lost reads as zeros, not EIO
        s.unmount()
        s.fsck_clean("fsck after the repaired store was mounted")


@test
def fsck_repair_quarantines_a_file_with_damaged_bytes():
    skip_native()
    with Store() as s:
        d = s.work("plain")
        fsynced_file(os.path.join(d, "a"), os.urandom(2 << 20))
        keep = os.urandom(100 << 10)
        os.mkdir(os.path.join(d, "sub"))
        fsynced_file(os.path.join(d, "sub", "small"), keep)
        ino = os.stat(os.path.join(d, "a")).st_ino
        s.unmount()
        seg = segments(s)[0]
        with open(seg, "r+b") as f:
            f.seek(1 << 20)                     # inside a's bytes (stored first)
            f.write(b"\xff" * 4096)             # flipped bytes in the middle of the data
        rc, out = s.fsck()
        eq(rc, 1, "fsck of damaged bytes: exit status (%r)" % out[-800:])
        check("is damaged" in out, "fsck: expected the damage named, saw %r" % out[-800:])
        rc, out = s.fsck(repair=True)
        eq(rc, 0, "fsck --repair of damaged bytes: exit status (%r)" % out[-800:])
        check("the bytes are lost; extent dropped" in out and
              "moved to /lost+found/%d-a" % ino in out,
              "fsck --repair: expected the extent dropped and a quarantined, saw %r" % out[-800:])
        last = out.strip().splitlines()[-1]
        check("0 not repaired" in last and "1 name quarantined" in last,
              "fsck --repair: expected the summary to count it, saw %r" % last)
        s.fsck_clean("fsck after --repair")
        s.mount()
        check(not os.path.exists(os.path.join(d, "a")), "the damaged file left its directory")
        eq(os.stat(quarantined(s, ino, "a")).st_size, 2 << 20, "size of the quarantined file")
        eq(read_all(os.path.join(d, "sub", "small")), keep, "the intact file after the repair")
        os.unlink(quarantined(s, ino, "a"))     # lost+found is an ordinary directory
        s.unmount()
        s.fsck_clean("fsck after the quarantined file was deleted")


@test
def fsync_that_fails_reports_eio_and_keeps_data():
    skip_native()
    with Store() as s:
        d = s.work("plain")
        p = os.path.join(d, "f")
        content = os.urandom(2 << 20)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            eq(os.write(fd, content), len(content), "write")
            arm(s, "tier_fsync:1")
            raises(errno.EIO, os.fsync, fd, what="fsync whose data sync fails")
            eq(os.write(fd, b"more"), 4, "write after a failed fsync")
            content += b"more"
            arm(s, "meta_sync:1")
            raises(errno.EIO, os.fsync, fd, what="fsync whose metadata sync fails")
            arm(s, "")
            os.fsync(fd)                        # a sync that works makes it durable
        finally:
            os.close(fd)
        eq(read_all(p), content, "content after a failed and a good fsync")
        s.kill9()
        s.mount()
        eq(read_all(p), content, "content after kill -9 and a mount")
        s.unmount()
        s.fsck_clean("fsck after a failed fsync")


@test
def journal_write_whose_commit_fails_is_not_recorded():
    skip_native()
    with Store() as s:
        p = os.path.join(s.mnt, "audit", "srv.log")
        fd = os.open(p, APPEND, 0o644)
        try:
            write_ok(fd, b"one\n", "first write")
            os.fsync(fd)
            write_ok(fd, b"two\n", "second write")
            arm(s, "meta_commit:1")
            raises(errno.EIO, os.fsync, fd, what="fsync of a journal write whose commit fails")
            arm(s, "")
            write_ok(fd, b"three\n", "write after the failed commit")
        finally:
            os.close(fd)
        seals(p, "after a failed commit")
        content = read_all(p)
        eq(content, b"one\ntwo\nthree\n", "journal file: a write acknowledged before a failed "
           "commit is stored by the next one")
        s.unmount()
        rc, out = run([AIFSCTL_BIN, "audit", "verify", s.store])
        eq(rc, 0, "audit verify after a failed journal commit (output %r)" % out[-800:])
        s.mount()
        eq(read_all(p), content, "journal file after a remount")


@test
def journal_record_that_cannot_be_made_is_an_error_and_kept():
    skip_native()
    with Store() as s:
        p = os.path.join(s.mnt, "audit", "norec.log")
        # A create whose record cannot be made is not made.
        arm(s, "journal_record:1")
        try:
            raises(errno.ENOMEM, os.open, p, APPEND, 0o644,
                   what="create in a journal area whose record cannot be made")
        finally:
            arm(s, "")
        check(not os.path.lexists(p), "%s: exists after a create that failed" % p)
        fd = os.open(p, APPEND, 0o644)
        try:
            write_ok(fd, b"one\n", "first write")
            os.fsync(fd)
            # The bytes are stored, their write record is not: fsync says so
            # (whichever store, the fsync's or the signer's, met the failure),
            # and the record is made by the next store.
            arm(s, "journal_record:1")
            try:
                write_ok(fd, b"two\n", "second write")
                raises(errno.ENOMEM, os.fsync, fd,
                       what="fsync of a journal write whose record cannot be made")
            finally:
                arm(s, "")
            write_ok(fd, b"three\n", "write after the failed record")
            os.fsync(fd)
        finally:
            os.close(fd)
        seals(p, "after a record that could not be made")
        content = read_all(p)
        eq(content, b"one\ntwo\nthree\n", "journal file after a record that could not be made")
        s.unmount()
        rc, out = run([AIFSCTL_BIN, "audit", "verify", s.store])
        eq(rc, 0, "audit verify after a record that could not be made (output %r)" % out[-800:])
        s.mount()
        eq(read_all(p), content, "journal file after a remount")


def fragment(d, n, size=4 << 20):
    """Files whose compressed extents stay mostly dead: write text, then overwrite most of it."""
    import random
    rnd = random.Random(6)
    words = [b"checkpoint", b"tensor", b"epoch", b"loss", b"gradient", b"shard", b"token",
             b"batch", b"optimizer", b"layer", b"weight", b"dataset"]
    keep = {}
    for i in range(n):
        p = os.path.join(d, "frag%02d" % i)
        text = bytearray()
        while len(text) < size:
            text += b" ".join(rnd.choice(words) for _ in range(rnd.randint(4, 14))) + b"\n"
        content = text[:size]
        fsynced_file(p, bytes(content))
        keep[p] = content
    for p, content in keep.items():
        new = os.urandom(size - (1 << 20))
        with open(p, "r+b") as f:
            f.seek(1 << 20)
            f.write(new)
            os.fsync(f.fileno())
        content[1 << 20:] = new
    return {p: bytes(c) for p, c in keep.items()}


@test
def gc_whose_appends_fail_keeps_every_byte():
    skip_native()
    with Store(mkfs=False, mount=False, opts="compress=lz4,migrate_bw=0") as s:
        rc, out = run([AIFSCTL_BIN, "mkfs", "--segment-size", "16", s.store])
        eq(rc, 0, "mkfs: %s" % out)
        s.mount()
        files = fragment(s.work("d"), 10)
        arm(s, "tier_append:1+")
        rc, out = run([AIFSCTL_BIN, "gc", "--threshold", "0.5", s.mnt])
        arm(s, "")
        check(rc == 1 and "failed" in out,
              "aifsctl gc whose appends fail: expected exit 1 saying it failed, saw exit %d: %r"
              % (rc, out))
        for p, c in files.items():
            eq(read_all(p), c, "%s after a gc whose appends failed" % p)
        rc, out = run([AIFSCTL_BIN, "gc", "--threshold", "0.5", s.mnt])
        eq(rc, 0, "aifsctl gc once appends work: %r" % out)
        check(out.startswith("gc: reclaimed ") and not out.startswith("gc: reclaimed 0 "),
              "aifsctl gc once appends work: expected bytes reclaimed, saw %r" % out)
        for p, c in files.items():
            eq(read_all(p), c, "%s after a gc that worked" % p)
        s.remount()
        for p, c in files.items():
            eq(read_all(p), c, "%s after a remount" % p)
        s.unmount()
        s.fsck_clean("fsck after a failed and a good gc")


@test
def migration_whose_appends_or_commits_fail_keeps_every_byte():
    skip_native()
    with Store() as s:
        d = s.work("d")
        files = {}
        for i in range(4):
            p = os.path.join(d, "f%d" % i)
            files[p] = os.urandom((1 << 20) + i * 4097)
            fsynced_file(p, files[p])
        for spec in ("tier_append:2+", "meta_commit:1+"):
            arm(s, spec)
            rc, out = run([AIFSCTL_BIN, "tier", "migrate", d, "--to", "cold", "--wait"])
            arm(s, "")
            for p, c in files.items():
                eq(read_all(p), c, "%s after a migration with %s (exit %d: %s)" % (p, spec, rc, out.strip()))
        rc, out = run([AIFSCTL_BIN, "tier", "migrate", d, "--to", "cold", "--wait"])
        eq(rc, 0, "a migration that works: %s" % out)
        for p, c in files.items():
            eq(os.getxattr(p, "user.aifs.tier"), b"cold", "tier of %s after the migration" % p)
        s.remount()
        for p, c in files.items():
            eq(read_all(p), c, "%s after a remount" % p)
        s.unmount()
        s.fsck_clean("fsck after failed and good migrations")


@test
def plain_write_whose_commit_fails_is_stored_by_the_next():
    skip_native()
    with Store() as s:
        d = s.work("plain")
        p = os.path.join(d, "f")
        content = os.urandom(1 << 20)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            eq(os.write(fd, content), len(content), "write")
            arm(s, "meta_commit:1")
            raises(errno.EIO, os.fsync, fd, what="fsync whose extent commit fails")
            arm(s, "")
            os.fsync(fd)
        finally:
            os.close(fd)
        failing_commit(s, os.chmod, p, 0o600, what="chmod whose commit fails")

        def checks(when):
            eq(read_all(p), content, "content %s" % when)
            eq(os.stat(p).st_mode & 0o777, 0o644, "mode %s" % when)
        checks("right after the failures")
        after_remount_and_fsck(s, checks)


# ---------------------------------------- items 1-3: a store on a full disk

def statvfs_free(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(d, prefix, chunk=1 << 20):
    """Write files of 4 MiB into D until the disk is full; return their names and the errno seen."""
    names = []
    for i in range(1000):
        p = os.path.join(d, "%s%d" % (prefix, i))
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
        names.append(p)
        try:
            for _ in range(4):
                os.write(fd, os.urandom(chunk))
            os.fsync(fd)
        except OSError as e:
            return names, e.errno
        finally:
            try:
                os.close(fd)
            except OSError:
                pass
    raise Fail("the disk never filled up after %d files" % len(names))


@test
def full_disk_keeps_metadata_deletes_and_the_last_save():
    skip_native()
    with Store(mkfs=False, mount=False) as s:
        os.mkdir(s.store)
        rc, out = run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", s.store])
        eq(rc, 0, "mount -t tmpfs: %s" % out)
        try:
            s.mkfs()
            s.mount("reserve=8")
            d = s.work("plain")
            keep = os.urandom(3 << 20)
            fsynced_file(os.path.join(d, "keep"), keep)
            ck = os.path.join(s.mnt, "checkpoints")
            model = os.path.join(ck, "model.pt")
            v1 = zip_bytes(1, 1 << 20)
            save(model, v1)
            wait_versions(ck, "model.pt", [1], "versions after the first save")
            ds = os.path.join(s.mnt, "datasets", "ds")
            os.mkdir(ds)
            fsynced_file(os.path.join(ds, "x"), b"dataset file\n")
            snaps = os.path.join(ds, ".aifs", "snapshots")
            os.mkdir(os.path.join(snaps, "t0"))
            names, err = fill(d, "fill")
            eq(err, errno.ENOSPC, "errno when the disk is full")
            check(s.proc.poll() is None, "daemon: expected alive once the disk is full")
            # metadata: ENOSPC or success, never EIO, and the daemon lives on
            for i in range(300):
                md = os.path.join(d, "dir%d" % i)
                try:
                    os.mkdir(md)
                    os.setxattr(md, "user.big", os.urandom(2048))
                except OSError as e:
                    eq(e.errno, errno.ENOSPC, "errno of mkdir + setxattr %d on a full disk" % i)
            check(s.proc.poll() is None, "daemon: expected alive after metadata on a full disk: %s"
                  % s.log_tail())
            # a snapshot is metadata: made, or ENOSPC once half the reserve is used;
            # dropping one always works
            try:
                os.mkdir(os.path.join(snaps, "t1"))
                eq(read_all(os.path.join(snaps, "t1", "x")), b"dataset file\n",
                   "a snapshot made on a full disk")
            except OSError as e:
                eq(e.errno, errno.ENOSPC, "errno of a snapshot on a full disk")
            os.rmdir(os.path.join(snaps, "t0"))
            check(not os.path.exists(os.path.join(snaps, "t0")), "snapshot t0 dropped on a full disk")
            # half the 8 MB reserve stays free for the metadata database
            check(statvfs_free(s.store) >= 3500000, "free space on the full disk: expected at "
                  "least half the reserve, saw %d bytes" % statvfs_free(s.store))
            # a save on the full disk fails, and the name serves its last complete version
            fd = os.open(model, os.O_WRONLY | os.O_TRUNC)
            try:
                try:
                    for _ in range(8):
                        os.write(fd, os.urandom(1 << 20))
                except OSError as e:
                    eq(e.errno, errno.ENOSPC, "errno of a checkpoint write on a full disk")
            finally:
                try:
                    os.close(fd)
                except OSError as e:
                    check(e.errno in (errno.ENOSPC, errno.EIO), "close of a save on a full disk: %s" % e)
            eq(read_all(model), v1, "the checkpoint after a save on a full disk")
            # deletes give space back
            before = statvfs_free(s.store)
            for p in names:
                os.unlink(p)
            for _ in range(100):
                if statvfs_free(s.store) > before + (8 << 20):
                    break
                time.sleep(0.1)
            check(statvfs_free(s.store) > before + (8 << 20),
                  "free space: expected more than %d bytes after the deletes, saw %d" % (
                      before + (8 << 20), statvfs_free(s.store)))
            fsynced_file(os.path.join(d, "after"), os.urandom(4 << 20))
            eq(read_all(os.path.join(d, "keep")), keep, "fsync'd file after the full disk")
            s.remount("reserve=8")
            eq(read_all(os.path.join(d, "keep")), keep, "fsync'd file after a remount")
            eq(read_all(model), v1, "the checkpoint after a remount")
            s.unmount()
            s.fsck_clean("fsck after a full disk")
        finally:
            if s.proc is not None:
                s.unmount(check=False)
            run(["umount", s.store])


@test
def store_on_a_disk_filled_by_others_mounts_read_only_and_checks():
    skip_native()
    with Store(mkfs=False, mount=False) as s:
        os.mkdir(s.store)
        rc, out = run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", s.store])
        eq(rc, 0, "mount -t tmpfs: %s" % out)
        try:
            s.mkfs()
            s.mount()
            d = s.work("plain")
            keep = os.urandom(2 << 20)
            fsynced_file(os.path.join(d, "keep"), keep)
            s.unmount()
            filler = os.path.join(s.store, "filler")
            with open(filler, "wb") as f:     # another program fills the disk to the last byte
                try:
                    while True:
                        f.write(b"\0" * (1 << 20))
                        f.flush()
                except OSError as e:
                    eq(e.errno, errno.ENOSPC, "errno of the filler")
            check(statvfs_free(s.store) < (1 << 20), "free space: expected the disk full, saw %d bytes"
                  % statvfs_free(s.store))
            s.mount()
            eq(read_all(os.path.join(d, "keep")), keep, "a file on the full disk, mounted read-only")
            raises(errno.EROFS, os.mkdir, os.path.join(d, "x"), what="mkdir in a store mounted read-only "
                   "because its disk is full")
            s.unmount()
            with open(s.log, "rb") as f:
                check(b"mounting it read-only" in f.read(), "daemon log: expected it to say why it "
                      "mounted read-only: %s" % s.log_tail())
            rc, out = s.fsck()
            eq(rc, 0, "fsck of a store on a full disk (%r)" % out[-600:])
            check("full" in out and "clean" in out.strip().splitlines()[-1],
                  "fsck of a store on a full disk: expected it to say the disk is full and clean, "
                  "saw %r" % out[-600:])
            os.unlink(filler)
            s.mount()
            os.mkdir(os.path.join(d, "x"))
            eq(read_all(os.path.join(d, "keep")), keep, "the file once the disk has room again")
            s.unmount()
            s.fsck_clean("fsck once the disk has room again")
        finally:
            if s.proc is not None:
                s.unmount(check=False)
            run(["umount", s.store])


# --------------------------------------- a crash at the create or seal of a journal

def died_at_failpoint(s, what):
    """Wait for the daemon to kill itself at an armed =KILL fail point (the
    release that reaches it comes after close() returned), then unmount the
    dead mount."""
    for _ in range(600):
        if s.proc.poll() is not None:
            break
        time.sleep(0.1)
    else:
        raise Fail("%s: expected the daemon killed at its fail point, saw it running: %s"
                   % (what, s.log_tail()))
    eq(s.proc.returncode, -signal.SIGKILL, "%s: the daemon's end" % what)
    s.proc = None
    run(["fusermount3", "-u", "-z", s.mnt], timeout=60)
    if mounted(s.mnt):
        run(["umount", "-l", s.mnt], timeout=60)
    check(not mounted(s.mnt), "%s: expected %s unmounted" % (what, s.mnt))


def audit_intact(s, what):
    rc, out = run([AIFSCTL_BIN, "audit", "verify", s.store])
    check(rc == 0 and "intact" in out, "%s: expected audit verify to exit 0 with 'intact', "
          "saw exit %d: %r" % (what, rc, out[-800:]))


@test
def journal_kill_at_create_or_seal_leaves_a_verifiable_log():
    """A file's create, its flag, seal time and seal record are each one commit:
    a kill -9 at any of them leaves the log intact and fsck clean."""
    skip_native()
    # the checkpointer stays out of the count of metadata commits
    for spec, expect in (("meta_commit:2=KILL", None),              # at the create
                         ("journal_seal:1=KILL", "unsealed"),       # just before the seal's commit
                         ("journal_sealed:1=KILL", "sealed")):      # just after it
        what = "kill at %s" % spec
        with Store(opts="audit_checkpoint_secs=3600") as s:
            a = os.path.join(s.mnt, "audit", "a.log")
            p = os.path.join(s.mnt, "audit", "b.log")
            fd = os.open(a, APPEND, 0o644)
            write_ok(fd, b"before\n", what + ": first write")
            os.close(fd)
            seals(a, what + ": a file written before the kill")
            if expect is None:
                arm(s, spec)            # b.log's create is the 1st commit, its bytes the 2nd
            fd = os.open(p, APPEND, 0o644)
            write_ok(fd, b"line 1\n", what + ": write")
            if expect is not None:
                arm(s, spec)
            try:
                os.close(fd)
            except OSError:
                pass                    # the daemon died under the close
            died_at_failpoint(s, what)
            s.fsck_clean("%s: fsck" % what)
            audit_intact(s, what)
            s.mount()
            eq(read_all(a), b"before\n", what + ": the file sealed before the kill")
            state = os.getxattr(p, "user.aifs.sealed").decode()
            if expect is None:                      # killed at the commit of its bytes
                eq((state, read_all(p)), ("false", b""), what + ": b.log (sealed, content)")
            else:
                eq((state, read_all(p)), ("true" if expect == "sealed" else "false", b"line 1\n"),
                   what + ": b.log (sealed, content)")
            if state == "false":                    # its next writer's close seals it
                fd = os.open(p, os.O_WRONLY | os.O_APPEND)
                write_ok(fd, b"line 2\n", what + ": write after the remount")
                os.close(fd)
                seals(p, what + ": the next writer's close")
            s.unmount()
            s.fsck_clean("%s: fsck after the remount" % what)
            audit_intact(s, what + ", after the remount")


@test
def kill_when_a_small_file_outgrows_inline_storage_keeps_its_stored_bytes():
    """A file of a few KiB lives in the metadata; the commit that moves it to
    an extent also stores what replaces it: a kill -9 between the two left
    the file at its new size with neither (zeros; a journal file's records
    then covered less than its size)."""
    skip_native()
    for area in ("plain", "audit"):
        what = "%s file growing past inline storage" % area
        with Store(opts="audit_checkpoint_secs=3600") as s:
            d = s.work("plain") if area == "plain" else os.path.join(s.mnt, "audit")
            p = os.path.join(d, "small")
            first = b"x" * 2047 + b"\n"
            fd = os.open(p, APPEND, 0o644)
            write_ok(fd, first, what + ": first write")
            os.fsync(fd)                            # stored inline, durable
            write_ok(fd, b"y" * 10239 + b"\n", what + ": the write that outgrows it")
            arm(s, "tier_append:1=KILL")            # the daemon dies storing it
            try:
                os.fsync(fd)
            except OSError:
                pass                                # the daemon died under the fsync
            died_at_failpoint(s, what)
            try:
                os.close(fd)
            except OSError:
                pass
            s.fsck_clean("%s: fsck" % what)
            if area == "audit":
                audit_intact(s, what)
            s.mount()
            eq(read_all(p), first, what + ": content after the kill")


# ------------------------------------------------------------- a crash loop

def _durable(side, *fields):
    """Record one durable fact outside the store (a line, fsync'd)."""
    with open(side, "a") as f:
        f.write("\t".join(str(x) for x in fields) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _facts(side):
    try:
        with open(side) as f:
            return [ln.rstrip("\n").split("\t") for ln in f if ln.endswith("\n")]
    except FileNotFoundError:
        return []


def _sha(b):
    import hashlib
    return hashlib.sha256(b).hexdigest()


def _journal_child(path, tag, n):
    try:
        fd = os.open(path, APPEND, 0o644)
        try:
            for k in range(n):
                os.write(fd, b"%s %d\n" % (tag, k))
        finally:
            os.close(fd)
    except OSError:
        pass                                    # the daemon was killed


def _mixed_workload(mnt, side, it, seed):
    """Checkpoint saves, journal appends from two processes, creates, renames,
    unlinks, a snapshot and a migration, until the daemon is killed."""
    import random
    rnd = random.Random(seed)
    ctx = multiprocessing.get_context("fork")
    try:
        plain = os.path.join(mnt, "plain")
        ck = os.path.join(mnt, "checkpoints")
        ds = os.path.join(mnt, "datasets", "set")
        for step in range(1000):
            p = os.path.join(plain, "f%d_%d" % (it, step))
            c = os.urandom(rnd.randint(1, 600 << 10))
            fsynced_file(p + ".tmp", c)
            os.rename(p + ".tmp", p)
            dfd = os.open(plain, os.O_RDONLY)
            os.fsync(dfd)
            os.close(dfd)
            _durable(side, "file", p, _sha(c))
            if step % 3 == 0:
                model = os.path.join(ck, "model.pt")
                z = zip_bytes(it * 1000 + step, rnd.randint(1000, 300000))
                save(model, z)
                _durable(side, "save", model, _sha(z))
            if step % 4 == 1:
                j = os.path.join(mnt, "audit", "log%d_%d" % (it, step))
                kids = [ctx.Process(target=_journal_child, args=(j, b"p%d" % k, 20)) for k in range(2)]
                for k in kids:
                    k.start()
                for k in kids:
                    k.join()
            if step % 5 == 2:
                old = os.path.join(plain, "f%d_%d" % (it, step - 2))
                # a kill between the unlink and its fact leaves it done
                # or not: either is right for a file not yet "gone"
                _durable(side, "going", old)
                os.unlink(old)
                _durable(side, "gone", old)
            if step == 1:
                os.mkdir(os.path.join(ds, ".aifs", "snapshots", "t%d" % it))
                _durable(side, "snap", "t%d" % it)
            if step == 3:
                run([AIFSCTL_BIN, "tier", "migrate", plain, "--to", "cold"])
    except OSError:
        pass                                    # the daemon was killed
    os._exit(0)


@test
def crash_loop_mixed_workload_keeps_everything_durable():
    """AIFS_CRASH_LOOPS (default 30) rounds of a mixed workload killed by SIGKILL."""
    skip_native()
    import random
    loops = int(os.environ.get("AIFS_CRASH_LOOPS", "30"))
    seed = random.randrange(1 << 32)
    print("# crash loop: %d rounds, seed %d" % (loops, seed), flush=True)
    rnd = random.Random(seed)
    ctx = multiprocessing.get_context("fork")
    with Store() as s:
        side = os.path.join(s.base, "durable.tsv")
        os.mkdir(os.path.join(s.mnt, "plain"))
        os.mkdir(os.path.join(s.mnt, "datasets", "set"))
        fsynced_file(os.path.join(s.mnt, "datasets", "set", "x"), b"dataset file\n")
        for it in range(loops):
            w = ctx.Process(target=_mixed_workload, args=(s.mnt, side, it, seed + it))
            w.start()
            time.sleep(rnd.uniform(0.05, 1.5))
            s.kill9()
            w.join(60)
            if w.is_alive():
                os.kill(w.pid, signal.SIGKILL)
                w.join()
            s.unmount(check=False)
            rc, out = s.fsck()
            eq(rc, 0, "round %d: fsck after kill -9 (%r)" % (it, out[-800:]))
            s.mount()
            files, saves, snaps, going = {}, [], [], set()
            for f in _facts(side):
                if f[0] == "file":
                    files[f[1]] = f[2]
                elif f[0] == "going":
                    going.add(f[1])
                elif f[0] == "gone":
                    files.pop(f[1], None)
                elif f[0] == "save":
                    saves.append(f[2])
                elif f[0] == "snap":
                    snaps.append(f[1])
            for p, h in files.items():
                if p in going and not os.path.exists(p):
                    continue                    # unlinked as the kill came
                eq(_sha(read_all(p)), h, "round %d: sha256 of fsync'd %s" % (it, p))
            vdir = os.path.join(s.mnt, "checkpoints", ".aifs", "versions", "model.pt")
            byver = {}
            for v in (os.listdir(vdir) if os.path.isdir(vdir) else []):
                byver[int(v)] = _sha(read_all(os.path.join(vdir, v)))
            have = set(byver.values())
            missing = [h for h in saves if h not in have]
            eq(missing, [], "round %d: committed versions missing after kill -9" % it)
            if saves:
                # the last acknowledged save, or a later one whose commit
                # was durable when the kill cut off its acknowledgement
                last = max(n for n, h in byver.items() if h == saves[-1])
                body = read_all(os.path.join(s.mnt, "checkpoints", "model.pt"))
                check(zipfile.is_zipfile(io.BytesIO(body)),
                      "round %d: model.pt serves a complete zip, saw a torn one" % it)
                served = _sha(body)
                check(served in [h for n, h in byver.items() if n >= last],
                      "round %d: model.pt serves the last committed save: expected the "
                      "content of version %d (%s) or a later version, saw %s"
                      % (it, last, saves[-1], served))
            snapdir = os.path.join(s.mnt, "datasets", "set", ".aifs", "snapshots")
            for t in snaps:
                eq(read_all(os.path.join(snapdir, t, "x")), b"dataset file\n",
                   "round %d: snapshot %s" % (it, t))
        print("# crash loop: %d fsync'd files alive, %d versions committed, %d snapshots checked"
              % (len(files), len(saves), len(snaps)), flush=True)
        s.unmount()
        s.fsck_clean("fsck after %d rounds" % loops)
        rc, out = run([AIFSCTL_BIN, "audit", "verify", s.store])
        check(rc == 0 and "intact" in out, "audit verify after the crash loop: expected exit 0 and "
              "'intact', saw exit %d: %r" % (rc, out[-600:]))


if __name__ == "__main__":
    main()
