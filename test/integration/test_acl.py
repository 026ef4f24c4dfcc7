#!/usr/bin/python3
"""POSIX ACLs (issue 24): system.posix_acl_access / _default, enforced by the kernel,
kept in step with the mode by the daemon; umask without a default ACL; O_TMPFILE.

Unprivileged callers are fixed uids with no /etc/passwd entry (harness.run_as):
ALICE owns the files, BOB is granted access by ACL entries, CAROL is nobody in particular.
Run with AIFS_TEST_NATIVE=1 to check the expectations against the local disk.
"""

import errno
import os
import shutil
import stat
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Skip, Store, check, eq, main, raises, read_all,  # noqa: E402
                     run_as, test, write_file)

ALICE, BOB, CAROL = 1000, 1001, 1002
BOBS_GROUP = 2001

ACCESS = "system.posix_acl_access"
DEFAULT = "system.posix_acl_default"

USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
UNDEF = 0xffffffff


def acl(*entries):
    """The xattr value of an ACL: entries (tag, perm) or (tag, perm, id)."""
    out = struct.pack("<I", 2)
    for e in entries:
        out += struct.pack("<HHI", e[0], e[1], e[2] if len(e) > 2 else UNDEF)
    return out


def entries(value):
    """The entries of an ACL xattr value as (tag, perm, id) with id None for the unnamed."""
    eq(struct.unpack("<I", value[:4])[0], 2, "ACL version")
    check((len(value) - 4) % 8 == 0, "ACL value of %d bytes: expected 4 + 8n" % len(value))
    res = []
    for i in range(4, len(value), 8):
        tag, perm, uid = struct.unpack("<HHI", value[i:i + 8])
        res.append((tag, perm, uid if tag in (USER, GROUP) else None))
    return res


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def have_acl_tools():
    if not shutil.which("setfacl") or not shutil.which("getfacl"):
        raise Skip("setfacl/getfacl not installed (package acl)")


def tool(argv):
    """Run an acl tool; returns (exit code, stdout + stderr)."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    return p.returncode, p.stdout.decode()


def getfacl(path):
    rc, out = tool(["getfacl", "--omit-header", "--numeric", "--absolute-names", path])
    eq(rc, 0, "getfacl %s exit code (%s)" % (path, out.strip()))
    return [line for line in out.splitlines() if line]


def alice_file(s, name="f", content=b"alice's data", perm=0o600):
    """A file of ALICE's, in a 0777 directory, made by ALICE."""
    d = os.path.join(s.mnt, "shared")
    if not os.path.isdir(d):
        os.mkdir(d)
        os.chmod(d, 0o777)
    p = os.path.join(d, name)
    run_as(ALICE, ALICE, write_file, p, content, perm)
    run_as(ALICE, ALICE, os.chmod, p, perm)
    return p


# ------------------------------------------------------------------ access ACLs

@test
def acl_named_user_read_lets_bob_read_not_write():
    with Store() as s:
        p = alice_file(s)
        raises(errno.EACCES, run_as, BOB, BOB, read_all, p, what="read by bob before the ACL")
        value = acl((USER_OBJ, 6), (USER, 4, BOB), (GROUP_OBJ, 0), (MASK, 4), (OTHER, 0))
        run_as(ALICE, ALICE, os.setxattr, p, ACCESS, value)
        eq(run_as(BOB, BOB, read_all, p), b"alice's data", "read by bob with u:bob:r")
        raises(errno.EACCES, run_as, BOB, BOB, os.open, p, os.O_WRONLY,
               what="open for writing by bob with u:bob:r")
        raises(errno.EACCES, run_as, CAROL, CAROL, read_all, p, what="read by carol (no entry)")
        eq(oct(mode(p)), oct(0o640), "mode after the ACL (group bits are the mask)")
        eq(os.getxattr(p, ACCESS), value, "stored access ACL")
        check(ACCESS in os.listxattr(p), "listxattr: expected %s listed, saw %s" % (ACCESS, os.listxattr(p)))


@test
def acl_setfacl_getfacl_round_trip():
    have_acl_tools()
    with Store() as s:
        p = alice_file(s, perm=0o644)
        rc, out = run_as(ALICE, ALICE, tool, ["setfacl", "-m", "u:%d:rw,g:%d:r" % (BOB, BOBS_GROUP), p])
        eq(rc, 0, "setfacl -m by the owner exit code (%s)" % out.strip())
        eq(getfacl(p), ["user::rw-", "user:%d:rw-" % BOB, "group::r--", "group:%d:r--" % BOBS_GROUP,
                        "mask::rw-", "other::r--"], "getfacl after setfacl -m")
        eq(oct(mode(p)), oct(0o664), "mode after setfacl -m (group bits = mask rw-)")
        run_as(BOB, BOB, lambda: os.close(os.open(p, os.O_WRONLY)))
        rc, out = run_as(ALICE, ALICE, tool, ["setfacl", "-b", p])
        eq(rc, 0, "setfacl -b exit code (%s)" % out.strip())
        eq(getfacl(p), ["user::rw-", "group::r--", "other::r--"], "getfacl after setfacl -b")
        raises(errno.ENODATA, os.getxattr, p, ACCESS, what="getxattr of the removed access ACL")
        raises(errno.EACCES, run_as, BOB, BOB, os.open, p, os.O_WRONLY,
               what="open for writing by bob after setfacl -b")
        s.remount()
        eq(oct(mode(p)), oct(0o644), "mode after remount")


@test
def acl_chmod_updates_mask():
    with Store() as s:
        p = alice_file(s, perm=0o640)
        run_as(ALICE, ALICE, os.setxattr, p, ACCESS,
               acl((USER_OBJ, 6), (USER, 4, BOB), (GROUP_OBJ, 4), (MASK, 4), (OTHER, 0)))
        eq(run_as(BOB, BOB, read_all, p), b"alice's data", "read by bob with u:bob:r")
        run_as(ALICE, ALICE, os.chmod, p, 0o600)          # chmod g-r
        eq(entries(os.getxattr(p, ACCESS)),
           [(USER_OBJ, 6, None), (USER, 4, BOB), (GROUP_OBJ, 4, None), (MASK, 0, None), (OTHER, 0, None)],
           "access ACL after chmod g-r (mask ---)")
        raises(errno.EACCES, run_as, BOB, BOB, read_all, p, what="read by bob after chmod g-r (mask ---)")
        run_as(ALICE, ALICE, os.chmod, p, 0o760)
        eq(entries(os.getxattr(p, ACCESS)),
           [(USER_OBJ, 7, None), (USER, 4, BOB), (GROUP_OBJ, 4, None), (MASK, 6, None), (OTHER, 0, None)],
           "access ACL after chmod 0760")
        eq(run_as(BOB, BOB, read_all, p), b"alice's data", "read by bob after chmod 0760")
        if shutil.which("getfacl"):
            check("mask::rw-" in getfacl(p), "getfacl after chmod 0760: expected mask::rw-, saw %s" % getfacl(p))


@test
def acl_equivalent_to_mode_stores_no_xattr():
    with Store() as s:
        p = alice_file(s, perm=0o600)
        run_as(ALICE, ALICE, os.setxattr, p, ACCESS, acl((USER_OBJ, 7), (GROUP_OBJ, 5), (OTHER, 4)))
        eq(oct(mode(p)), oct(0o754), "mode after setting an ACL equivalent to 0754")
        raises(errno.ENODATA, os.getxattr, p, ACCESS, what="getxattr of an ACL equivalent to the mode")
        check(ACCESS not in os.listxattr(p),
              "listxattr: expected no %s for an ACL equivalent to the mode, saw %s" % (ACCESS, os.listxattr(p)))


@test
def acl_set_by_non_member_clears_setgid():
    with Store() as s:
        p = alice_file(s, perm=0o640)
        os.chown(p, ALICE, BOBS_GROUP)
        os.chmod(p, 0o2750)
        run_as(ALICE, ALICE, os.setxattr, p, ACCESS,
               acl((USER_OBJ, 7), (USER, 4, BOB), (GROUP_OBJ, 5), (MASK, 5), (OTHER, 0)))
        eq(oct(stat.S_IMODE(os.stat(p).st_mode)), oct(0o750),
           "mode after alice (not in the file's group) sets an access ACL: set-gid cleared")
        os.chmod(p, 0o2750)
        os.setxattr(p, ACCESS, acl((USER_OBJ, 7), (USER, 4, BOB), (GROUP_OBJ, 5), (MASK, 5), (OTHER, 0)))
        eq(oct(stat.S_IMODE(os.stat(p).st_mode)), oct(0o2750), "mode after root sets it: set-gid kept")


# ------------------------------------------------------------------ refusals

@test
def acl_malformed_value_einval():
    with Store() as s:
        p = alice_file(s)
        # the kernel answers a wrong version itself, as for a local filesystem
        raises(errno.EOPNOTSUPP, run_as, ALICE, ALICE, os.setxattr, p, ACCESS,
               struct.pack("<I", 1) + acl((USER_OBJ, 6), (GROUP_OBJ, 0), (OTHER, 0))[4:],
               what="setxattr %s with version 1" % ACCESS)
        bad = {
            "truncated entry": acl((USER_OBJ, 6), (GROUP_OBJ, 0), (OTHER, 0))[:-3],
            "header only": acl()[:3],
            "unknown tag": acl((USER_OBJ, 6), (0x40, 4), (GROUP_OBJ, 0), (OTHER, 0)),
            "no group entry": acl((USER_OBJ, 6), (OTHER, 0)),
            "named user without mask": acl((USER_OBJ, 6), (USER, 4, BOB), (GROUP_OBJ, 0), (OTHER, 0)),
            "two owner entries": acl((USER_OBJ, 6), (USER_OBJ, 4), (GROUP_OBJ, 0), (OTHER, 0)),
            "tags out of order": acl((GROUP_OBJ, 0), (USER_OBJ, 6), (OTHER, 0)),
            "permission 8": acl((USER_OBJ, 8), (GROUP_OBJ, 0), (OTHER, 0)),
        }
        for what, value in bad.items():
            raises(errno.EINVAL, run_as, ALICE, ALICE, os.setxattr, p, ACCESS, value,
                   what="setxattr %s with %s" % (ACCESS, what))
        raises(errno.ENODATA, os.getxattr, p, ACCESS, what="getxattr after the refused values")
        eq(oct(mode(p)), oct(0o600), "mode after the refused values")


@test
def acl_set_by_non_owner_eperm():
    with Store() as s:
        p = alice_file(s, perm=0o666)
        value = acl((USER_OBJ, 6), (USER, 6, BOB), (GROUP_OBJ, 6), (MASK, 6), (OTHER, 6))
        raises(errno.EPERM, run_as, BOB, BOB, os.setxattr, p, ACCESS, value,
               what="setxattr of an access ACL by a non-owner (with write permission)")
        raises(errno.EPERM, run_as, BOB, BOB, os.setxattr, os.path.dirname(p), DEFAULT, value,
               what="setxattr of a default ACL on root's directory by bob")
        if shutil.which("setfacl"):
            rc, out = run_as(BOB, BOB, tool, ["setfacl", "-m", "u:%d:rw" % BOB, p])
            check(rc != 0 and "Operation not permitted" in out,
                  "setfacl -m by a non-owner: expected a failure with EPERM, saw exit %d: %s" % (rc, out.strip()))
        os.setxattr(p, ACCESS, value)          # root may
        eq(os.getxattr(p, ACCESS), value, "access ACL set by root")


@test
def acl_default_refused_on_files():
    with Store() as s:
        p = alice_file(s)
        raises(errno.EACCES, run_as, ALICE, ALICE, os.setxattr, p, DEFAULT,
               acl((USER_OBJ, 6), (GROUP_OBJ, 0), (OTHER, 0)), what="default ACL on a regular file")


@test
def acl_journal_file_refused_like_chmod():
    with Store() as s:
        p = os.path.join(s.mnt, "audit", "log")
        write_file(p, b"record\n")
        raises(errno.EPERM, os.setxattr, p, ACCESS,
               acl((USER_OBJ, 6), (USER, 4, BOB), (GROUP_OBJ, 4), (MASK, 4), (OTHER, 4)),
               what="access ACL on a journal file under retention")
        raises(errno.EPERM, os.chmod, p, 0o600, what="chmod of the journal file")
        raises(errno.ENODATA, os.getxattr, p, ACCESS, what="getxattr after the refusal")


# ------------------------------------------------------------------ inheritance and umask

@test
def acl_default_inherited_by_new_files_and_dirs():
    with Store() as s:
        d = os.path.join(s.mnt, "team")
        os.mkdir(d, 0o755)
        dflt = acl((USER_OBJ, 7), (USER, 5, BOB), (GROUP_OBJ, 5), (MASK, 5), (OTHER, 0))
        os.setxattr(d, DEFAULT, dflt)
        old = os.umask(0o077)           # a default ACL replaces the umask
        try:
            f = os.path.join(d, "f")
            os.close(os.open(f, os.O_CREAT | os.O_WRONLY, 0o666))
            sub = os.path.join(d, "sub")
            os.mkdir(sub, 0o777)
            fifo = os.path.join(d, "fifo")
            os.mkfifo(fifo, 0o666)
            link = os.path.join(d, "link")
            os.symlink("f", link)
        finally:
            os.umask(old)
        eq(oct(mode(f)), oct(0o640), "mode of a new file (0666 masked by the default ACL, not the umask)")
        eq(entries(os.getxattr(f, ACCESS)),
           [(USER_OBJ, 6, None), (USER, 5, BOB), (GROUP_OBJ, 5, None), (MASK, 4, None), (OTHER, 0, None)],
           "access ACL of the new file")
        raises(errno.ENODATA, os.getxattr, f, DEFAULT, what="default ACL of a new file")
        eq(oct(mode(sub)), oct(0o750), "mode of a new directory")
        eq(os.getxattr(sub, DEFAULT), dflt, "default ACL inherited by the new directory")
        eq(entries(os.getxattr(sub, ACCESS)), entries(dflt), "access ACL of the new directory")
        eq(oct(mode(fifo)), oct(0o640), "mode of a new fifo")
        eq(oct(stat.S_IMODE(os.lstat(link).st_mode)), oct(0o777), "mode of a new symlink")
        with open(f, "wb") as fh:
            fh.write(b"team data")
        eq(run_as(BOB, BOB, read_all, f), b"team data", "read by bob through the inherited entry")
        raises(errno.EACCES, run_as, CAROL, CAROL, read_all, f, what="read by carol")
        deeper = os.path.join(sub, "g")
        write_file(deeper, b"x", 0o600)
        eq(entries(os.getxattr(deeper, ACCESS)),
           [(USER_OBJ, 6, None), (USER, 5, BOB), (GROUP_OBJ, 5, None), (MASK, 0, None), (OTHER, 0, None)],
           "access ACL two levels down (created 0600: mask ---)")


@test
def umask_applied_without_default_acl():
    with Store() as s:
        d = s.work()
        for um, fmode, dmode in ((0o077, 0o600, 0o700), (0o022, 0o644, 0o755), (0o027, 0o640, 0o750)):
            old = os.umask(um)
            try:
                f = os.path.join(d, "f%o" % um)
                os.close(os.open(f, os.O_CREAT | os.O_WRONLY, 0o666))
                sub = os.path.join(d, "d%o" % um)
                os.mkdir(sub, 0o777)
                fifo = os.path.join(d, "p%o" % um)
                os.mkfifo(fifo, 0o666)
            finally:
                os.umask(old)
            eq(oct(mode(f)), oct(fmode), "file created 0666 with umask %03o" % um)
            eq(oct(mode(sub)), oct(dmode), "directory made 0777 with umask %03o" % um)
            eq(oct(mode(fifo)), oct(fmode), "fifo made 0666 with umask %03o" % um)
            raises(errno.ENODATA, os.getxattr, f, ACCESS, what="access ACL of a file in a directory with none")


# ------------------------------------------------------------------ history

@test
def acl_version_keeps_its_acl():
    with Store() as s:
        d = os.path.join(s.mnt, "checkpoints", "run")
        os.mkdir(d, 0o755)
        p = os.path.join(d, "model.pt")
        write_file(p, b"v1", 0o600)
        os.chmod(p, 0o600)
        os.setxattr(p, ACCESS, acl((USER_OBJ, 6), (USER, 6, BOB), (GROUP_OBJ, 0), (MASK, 6), (OTHER, 0)))
        write_file(p, b"v2")
        vd = os.path.join(d, ".aifs", "versions", "model.pt")
        deadline = time.time() + 10
        while sorted(os.listdir(vd)) != ["1", "2"] and time.time() < deadline:
            time.sleep(0.05)
        eq(sorted(os.listdir(vd)), ["1", "2"], "versions of model.pt")
        v1, v2 = os.path.join(vd, "1"), os.path.join(vd, "2")
        raises(errno.ENODATA, os.getxattr, v1, ACCESS, what="access ACL of version 1 (made before the ACL)")
        raises(errno.EACCES, run_as, BOB, BOB, read_all, v1, what="read of version 1 by bob")
        eq(entries(os.getxattr(v2, ACCESS)),
           [(USER_OBJ, 4, None), (USER, 4, BOB), (GROUP_OBJ, 0, None), (MASK, 4, None), (OTHER, 0, None)],
           "access ACL of version 2 (the file's, without write permission)")
        eq(oct(mode(v2)), oct(0o440), "mode of version 2")
        eq(run_as(BOB, BOB, read_all, v2), b"v2", "read of version 2 by bob")
        raises(errno.EACCES, run_as, CAROL, CAROL, read_all, v2, what="read of version 2 by carol")
        raises(errno.EROFS, os.setxattr, v2, ACCESS,
               acl((USER_OBJ, 6), (USER, 6, CAROL), (GROUP_OBJ, 0), (MASK, 6), (OTHER, 0)),
               what="setxattr of an ACL on a version")


@test
def acl_entry_counts_in_daemon_checks():
    """user.aifs.restore checks read permission on the version in the daemon: an ACL entry counts."""
    with Store() as s:
        d = os.path.join(s.mnt, "checkpoints", "run")
        os.mkdir(d, 0o755)
        p = os.path.join(d, "model.pt")
        write_file(p, b"v1", 0o600)
        os.chmod(p, 0o600)
        os.setxattr(p, ACCESS, acl((USER_OBJ, 6), (USER, 6, BOB), (GROUP_OBJ, 0), (MASK, 6), (OTHER, 0)))
        write_file(p, b"v2")
        write_file(p, b"v3")
        vd = os.path.join(d, ".aifs", "versions", "model.pt")
        deadline = time.time() + 10
        while sorted(os.listdir(vd)) != ["1", "2", "3"] and time.time() < deadline:
            time.sleep(0.05)
        eq(sorted(os.listdir(vd)), ["1", "2", "3"], "versions of model.pt")
        raises(errno.EACCES, run_as, BOB, BOB, os.setxattr, p, "user.aifs.restore", b"1",
               what="restore by bob of version 1 (made before the ACL: bob may not read it)")
        raises(errno.EACCES, run_as, CAROL, CAROL, os.setxattr, p, "user.aifs.restore", b"2",
               what="restore by carol (no entry)")
        run_as(BOB, BOB, os.setxattr, p, "user.aifs.restore", b"2")
        eq(read_all(p), b"v2", "content after bob restored version 2 (readable to him by its ACL)")


@test
def acl_snapshot_keeps_its_acl():
    with Store() as s:
        ds = os.path.join(s.mnt, "datasets", "ds")
        os.mkdir(ds, 0o755)
        p = os.path.join(ds, "part0")
        write_file(p, b"rows", 0o600)
        os.chmod(p, 0o600)
        value = acl((USER_OBJ, 6), (USER, 4, BOB), (GROUP_OBJ, 0), (MASK, 4), (OTHER, 0))
        os.setxattr(p, ACCESS, value)
        os.mkdir(os.path.join(ds, ".aifs", "snapshots", "t1"))
        snap = os.path.join(ds, ".aifs", "snapshots", "t1", "part0")
        eq(os.getxattr(snap, ACCESS), value, "access ACL of the snapshot's copy")
        eq(run_as(BOB, BOB, read_all, snap), b"rows", "read of the snapshot copy by bob")
        raises(errno.EACCES, run_as, CAROL, CAROL, read_all, snap, what="read of the snapshot copy by carol")
        raises(errno.EROFS, os.removexattr, snap, ACCESS, what="removexattr of an ACL in a snapshot")


# ------------------------------------------------------------------ O_TMPFILE

@test
def o_tmpfile_gives_eopnotsupp():
    """libfuse 3.14 has no tmpfile operation: the kernel answers O_TMPFILE with EOPNOTSUPP."""
    with Store() as s:
        d = s.work()
        for _ in range(2):      # the first refusal is remembered by the kernel: both say the same
            raises(errno.EOPNOTSUPP, os.open, d, os.O_TMPFILE | os.O_RDWR, 0o600, what="open(O_TMPFILE)")
        eq(os.listdir(d), [], "directory after the refused O_TMPFILE")


if __name__ == "__main__":
    main()
