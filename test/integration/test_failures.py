#!/usr/bin/python3
"""Failure paths (issue 19): forks of a logging process, lost replies, writes and
fsyncs that fail to store, and failing appends of journal records, gc and migration."""

import errno
import multiprocessing
import os
import subprocess
import sys

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFSCTL_BIN, Store, check, data, eq, main, raises, read_all, run,  # noqa: E402
                     skip_native, test)
from failcase import (sealed, write_ok, seals, arm, versions, wait_versions, save,  # noqa: E402
                      child_write_exit, child_exit, fsynced_file, failing_commit,
                      after_remount_and_fsck, zip_bytes, APPEND)


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


if __name__ == "__main__":
    main()
