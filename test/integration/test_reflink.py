#!/usr/bin/python3
"""copy_file_range between files of one mount shares data instead of copying it
(issue 23 part 3, fs/reflink.c): byte-exact copies at any offsets, the store does not
grow by the copied bytes, a source changed afterwards leaves the copy intact, versions
and snapshots keep what they had, fsck is clean after a remount; plain files that share
data free none of it when overwritten; journal areas get byte copies; and what
`cp --reflink` does on the mount.  Every test is
aifs-only.
"""

import errno
import hashlib
import os
import subprocess
import sys

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFSCTL_BIN, Fail, Skip, Store, check, data, eq, main, read_all, run,  # noqa: E402
                     same_bytes, skip_native, test)

MiB = 1 << 20


def write_synced(path, content):
    with open(path, "wb") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())


def copy_range(src, dst, length, off_in=0, off_out=0, create=True):
    """copy_file_range(2) of LENGTH bytes; returns the bytes copied in total."""
    fi = os.open(src, os.O_RDONLY)
    fo = os.open(dst, os.O_WRONLY | (os.O_CREAT if create else 0), 0o644)
    done = 0
    try:
        while done < length:
            n = os.copy_file_range(fi, fo, length - done, off_in + done, off_out + done)
            if n == 0:
                break
            done += n
        os.fsync(fo)
    finally:
        os.close(fi)
        os.close(fo)
    return done


def stored(path):
    return int(os.getxattr(path, "user.aifs.stored_size").decode())


def settle(s):
    """Let the reclaimer give back what was freed, then measure the store."""
    os.sync()
    with open(os.path.join(s.mnt, ".aifs", "stats")) as f:
        f.read()
    return s.usage()


@test
def reflink_copy_is_byte_exact_and_does_not_double_space():
    skip_native()
    with Store() as s:
        ds = os.path.join(s.mnt, "datasets", "d")
        os.mkdir(ds)
        src, dst = os.path.join(ds, "src.bin"), os.path.join(ds, "dst.bin")
        content = data(1, 16 * MiB + 12345)
        write_synced(src, content)
        before = settle(s)
        eq(copy_range(src, dst, len(content)), len(content), "bytes copied")
        after = settle(s)
        same_bytes(read_all(dst), content, "copy")
        check(after - before < 2 * MiB, "store grew by %d bytes for a %d-byte copy: expected "
              "the data shared (under 2 MiB of metadata)" % (after - before, len(content)))
        eq(stored(dst), stored(src), "user.aifs.stored_size of the copy vs the source")
        eq(os.getxattr(dst, "user.aifs.sha256").decode(), hashlib.sha256(content).hexdigest(),
           "user.aifs.sha256 of the copy")


@test
def reflink_unaligned_ranges_into_an_existing_file():
    skip_native()
    with Store() as s:
        ds = os.path.join(s.mnt, "datasets", "d")
        os.mkdir(ds)
        src, dst = os.path.join(ds, "src.bin"), os.path.join(ds, "dst.bin")
        a, b = data(2, 3 * MiB + 7), data(3, 2 * MiB + 3)
        write_synced(src, a)
        write_synced(dst, b)
        # 1 MiB + 5 bytes from offset 777 of src over offset 4099 of dst, then past its end
        eq(copy_range(src, dst, MiB + 5, 777, 4099, create=False), MiB + 5, "first range")
        eq(copy_range(src, dst, 100000, 3 * MiB - 50000, len(b) + 10, create=False), 50007,
           "second range (clamped at the source's end)")
        want = bytearray(b)
        want[4099:4099 + MiB + 5] = a[777:777 + MiB + 5]
        want += bytes(10) + a[3 * MiB - 50000:]
        same_bytes(read_all(dst), bytes(want), "dst after two ranges")
        same_bytes(read_all(src), a, "src unchanged")
        # within one file: ranges apart share, overlapping ones are refused
        eq(copy_range(src, src, 4096, 0, len(a), create=False), 4096, "copy within one file")
        same_bytes(read_all(src), a + a[:4096], "src after a copy of its head to its end")
        fi = os.open(src, os.O_RDWR)
        try:
            os.copy_file_range(fi, fi, 8192, 0, 4096)
            raise Fail("overlapping copy within one file: expected EINVAL, saw success")
        except OSError as e:
            eq(errno.errorcode.get(e.errno), "EINVAL", "overlapping copy within one file")
        finally:
            os.close(fi)


@test
def reflink_source_changed_later_leaves_copy_version_and_snapshot_intact():
    skip_native()
    with Store() as s:
        ds = os.path.join(s.mnt, "datasets", "d")
        os.mkdir(ds)
        src = os.path.join(ds, "src.bin")
        content = data(4, 6 * MiB + 1)
        write_synced(src, content)
        ck = os.path.join(s.mnt, "checkpoints", "run")
        os.mkdir(ck)
        model = os.path.join(ck, "model.bin")
        copy = os.path.join(ds, "copy.bin")
        eq(copy_range(src, model, len(content)), len(content), "copy into a checkpoint file")
        eq(copy_range(src, copy, len(content)), len(content), "copy in the dataset")
        eq(os.getxattr(model, "user.aifs.version").decode(), "1", "version of the checkpoint copy")
        eq(os.getxattr(model, "user.aifs.sha256").decode(), hashlib.sha256(content).hexdigest(),
           "sha256 of version 1 (taken at commit)")
        os.mkdir(os.path.join(ds, ".aifs", "snapshots", "t1"))
        # the source changes: its head rewritten, its tail cut
        with open(src, "r+b") as f:
            f.write(data(5, 2 * MiB))
            f.truncate(3 * MiB)
            os.fsync(f.fileno())
        os.truncate(copy, 5 * MiB)        # the copy changes too, apart
        settle(s)
        same_bytes(read_all(model), content, "checkpoint copy after the source changed")
        same_bytes(read_all(model + "@v1"), content, "version 1")
        same_bytes(read_all(copy), content[:5 * MiB], "dataset copy after both changed")
        snap = os.path.join(ds, ".aifs", "snapshots", "t1")
        same_bytes(read_all(os.path.join(snap, "copy.bin")), content, "snapshot of the copy")
        same_bytes(read_all(os.path.join(snap, "src.bin")), content, "snapshot of the source")
        s.remount()
        same_bytes(read_all(model), content, "checkpoint copy after remount")
        same_bytes(read_all(os.path.join(snap, "copy.bin")), content, "snapshot after remount")
        os.unlink(src)
        os.unlink(copy)
        settle(s)
        same_bytes(read_all(model), content, "checkpoint copy after the source's deletion")
        s.unmount()
        s.fsck_clean("fsck after copies, changes and deletions")
        s.mount()
        same_bytes(read_all(model), content, "checkpoint copy after fsck")


@test
def reflink_journal_area_gets_a_byte_copy():
    skip_native()
    with Store() as s:
        ds = os.path.join(s.mnt, "datasets", "d")
        os.mkdir(ds)
        src = os.path.join(ds, "src.bin")
        content = data(6, 3 * MiB)
        write_synced(src, content)
        before = settle(s)
        log = os.path.join(s.mnt, "audit", "copy.log")
        eq(copy_range(src, log, len(content)), len(content), "copy into a journal area")
        after = settle(s)
        same_bytes(read_all(log), content, "journal copy")
        check(after - before >= len(content),
              "store grew by %d bytes: expected the byte copy stored (>= %d)" % (
                  after - before, len(content)))
        rc, out = run([AIFSCTL_BIN, "audit", "verify", s.mnt])
        eq(rc, 0, "aifsctl audit verify after a copy into the journal: %s" % out.strip()[-500:])


@test
def reflink_plain_area_shares_and_overwrites_free_nothing_shared():
    """Plain files free overwritten bytes at once; a plain copy, a plain source and a
    file promoted into the plain area share data, so their overwrites and deletion must
    leave the other side's bytes: each is read back after a remount and fsck."""
    skip_native()
    with Store() as s:
        ds = os.path.join(s.mnt, "datasets", "d")
        os.mkdir(ds)
        src = os.path.join(ds, "src.bin")
        content = data(8, 4 * MiB)
        write_synced(src, content)
        before = settle(s)
        pcopy = os.path.join(s.mnt, "copy.bin")
        eq(copy_range(src, pcopy, len(content)), len(content), "copy into the plain area")
        check(settle(s) - before < MiB, "plain copy: expected shared data")
        psrc = os.path.join(s.mnt, "psrc.bin")
        write_synced(psrc, data(9, 4 * MiB))
        pcontent = read_all(psrc)
        back = os.path.join(ds, "back.bin")
        eq(copy_range(psrc, back, len(pcontent)), len(pcontent), "copy out of the plain area")
        ck = os.path.join(s.mnt, "checkpoints", "r")
        os.mkdir(ck)
        write_synced(os.path.join(ck, "m.bin"), content)
        rc, out = run([AIFSCTL_BIN, "promote", os.path.join(ck, "m.bin"),
                       os.path.join(s.mnt, "promoted.bin")])
        eq(rc, 0, "aifsctl promote into the plain area: %s" % out.strip())
        for p in (pcopy, psrc, os.path.join(s.mnt, "promoted.bin")):
            with open(p, "r+b") as f:
                f.seek(MiB)
                f.write(bytes(2 * MiB))
                os.fsync(f.fileno())
        os.unlink(pcopy)
        settle(s)
        s.remount()
        same_bytes(read_all(src), content, "dataset source after its plain copy changed and went")
        same_bytes(read_all(back), pcontent, "copy of a plain source after the source changed")
        same_bytes(read_all(os.path.join(ck, "m.bin@v1")), content,
                   "checkpoint version after its promoted plain copy changed")
        s.unmount()
        s.fsck_clean("fsck after plain overwrites of shared data")
        s.mount()


@test
def reflink_failed_commit_leaves_both_files_and_space_as_on_disk():
    """The commit of a shared range fails (fail point meta_commit): the copy fails with
    EIO, the destination, a plain file (which gives overwritten bytes back at once),
    keeps its bytes across a remount (its old extents were not given back), and the
    same copy succeeds afterwards; fsck is clean after a remount."""
    skip_native()
    with Store() as s:
        ds = os.path.join(s.mnt, "datasets", "d")
        os.mkdir(ds)
        src, dst = os.path.join(ds, "src.bin"), os.path.join(s.mnt, "dst.bin")
        a, b = data(10, 4 * MiB), data(11, 4 * MiB)
        write_synced(src, a)
        write_synced(dst, b)
        fi, fo = os.open(src, os.O_RDONLY), os.open(dst, os.O_WRONLY)
        try:
            try:
                os.setxattr(s.mnt, "user.aifs.failpoints", b"meta_commit:1")
            except OSError as e:
                if e.errno == errno.EOPNOTSUPP:
                    raise Skip("aifs built without fail points")
                raise
            try:
                os.copy_file_range(fi, fo, 2 * MiB, 0, MiB)
                raise Fail("copy_file_range with a failing commit: expected EIO, saw success")
            except OSError as e:
                eq(errno.errorcode.get(e.errno), "EIO", "copy_file_range with a failing commit")
        finally:
            os.close(fi)
            os.close(fo)
        s.remount()     # the unmount gives back what the daemon counted as free
        same_bytes(read_all(dst), b, "destination after the failed copy")
        same_bytes(read_all(src), a, "source after the failed copy")
        eq(copy_range(src, dst, 2 * MiB, 0, MiB, create=False), 2 * MiB, "the copy again")
        settle(s)
        same_bytes(read_all(dst), b[:MiB] + a[:2 * MiB] + b[3 * MiB:], "destination after the copy")
        s.unmount()
        s.fsck_clean("fsck after a failed and a good copy")
        s.mount()
        same_bytes(read_all(dst), b[:MiB] + a[:2 * MiB] + b[3 * MiB:], "destination after remount")


@test
def reflink_cp_reflink_always_and_auto():
    """cp --reflink=always asks for FICLONE, which FUSE does not pass to the daemon:
    it fails with 'Operation not supported' and leaves an empty file.  cp --reflink=auto
    and plain cp (coreutils 9: auto by default) use copy_file_range: shared."""
    skip_native()
    with Store() as s:
        ds = os.path.join(s.mnt, "datasets", "d")
        os.mkdir(ds)
        src = os.path.join(ds, "src.bin")
        content = data(7, 8 * MiB)
        write_synced(src, content)
        always = os.path.join(ds, "always.bin")
        p = subprocess.run(["cp", "--reflink=always", src, always], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        out = p.stdout.decode(errors="replace")
        eq(p.returncode, 1, "cp --reflink=always: exit status (%s)" % out.strip())
        check("not supported" in out, "cp --reflink=always: expected 'not supported', saw %r" % out)
        eq(os.path.getsize(always), 0, "size of the file cp --reflink=always left")
        before = settle(s)
        auto = os.path.join(ds, "auto.bin")
        p = subprocess.run(["cp", "--reflink=auto", src, auto], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        eq(p.returncode, 0, "cp --reflink=auto: %s" % p.stdout.decode(errors="replace"))
        os.sync()
        after = settle(s)
        same_bytes(read_all(auto), content, "cp --reflink=auto copy")
        check(after - before < 2 * MiB, "cp --reflink=auto: store grew by %d bytes for %d: "
              "expected shared data" % (after - before, len(content)))
        plain = os.path.join(ds, "plain.bin")
        eq(subprocess.run(["cp", src, plain]).returncode, 0, "cp without --reflink")
        same_bytes(read_all(plain), content, "cp copy")
        check(settle(s) - after < 2 * MiB, "cp without --reflink: expected shared data")


if __name__ == "__main__":
    main()
