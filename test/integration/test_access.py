#!/usr/bin/python3
"""Permissions and extended attributes of aifs (issue 2, item 3), as ext4 has them.

default_permissions as a non-root user, ownership of new inodes, setgid
directories, sticky directories; xattr set/get/list/remove, flags and limits.
Run with AIFS_TEST_NATIVE=1 to check the expectations against the local ext4 disk.
"""

import errno
import os
import stat
import sys

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Store, check, data, eq, getxattr_raw, listxattr_raw, main, raises, read_all,  # noqa: E402
                     run_as, test, write_file)

USER = 1000     # an unprivileged uid/gid with no entry in /etc/passwd
OTHER = 1001


# ------------------------------------------------------------------ permissions

@test
def perm_0600_root_file_eacces_for_other_user():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "secret")
        write_file(p, b"root only")
        os.chmod(p, 0o600)
        raises(errno.EACCES, run_as, USER, USER, read_all, p, what="read of a 0600 root file by uid %d" % USER)
        raises(errno.EACCES, run_as, USER, USER, os.open, p, os.O_WRONLY, what="open for writing of a 0600 root file")
        os.chmod(p, 0o644)
        eq(run_as(USER, USER, read_all, p), b"root only", "read of a 0644 root file by another user")
        raises(errno.EACCES, run_as, USER, USER, os.open, p, os.O_WRONLY, what="open for writing of a 0644 root file")
        raises(errno.EACCES, run_as, USER, USER, os.truncate, p, 0, what="truncate of a 0644 root file")
        raises(errno.EPERM, run_as, USER, USER, os.chmod, p, 0o777, what="chmod by a non-owner")
        raises(errno.EPERM, run_as, USER, USER, os.chown, p, USER, USER, what="chown by a non-owner")
        raises(errno.EACCES, run_as, USER, USER, os.setxattr, p, "user.x", b"1", what="user.* setxattr without write permission")
        raises(errno.EACCES, run_as, USER, USER, write_file, os.path.join(d, "new"), b"",
               what="create in a 0755 root directory")
        priv = os.path.join(d, "priv")
        os.mkdir(priv, 0o700)
        write_file(os.path.join(priv, "f"), b"")
        raises(errno.EACCES, run_as, USER, USER, os.listdir, priv, what="listing of a 0700 root directory")
        raises(errno.EACCES, run_as, USER, USER, os.stat, os.path.join(priv, "f"), what="lookup in a 0700 root directory")
        os.chmod(priv, 0o711)
        eq(run_as(USER, USER, lambda: os.stat(os.path.join(priv, "f")).st_size), 0, "lookup in a 0711 directory")
        raises(errno.EACCES, run_as, USER, USER, os.listdir, priv, what="listing of a 0711 directory")


@test
def new_files_owned_by_caller_uid_gid():
    with Store() as s:
        d = s.work(mode=0o777)

        def make():
            write_file(os.path.join(d, "f"), b"mine")
            os.mkdir(os.path.join(d, "dir"))
            os.symlink("f", os.path.join(d, "sym"))
            os.mkfifo(os.path.join(d, "fifo"))
            os.chmod(os.path.join(d, "f"), 0o600)      # the owner may chmod
            os.chown(os.path.join(d, "f"), -1, USER + 6)    # and chgrp to a group it is in
            raises(errno.EPERM, os.chown, os.path.join(d, "f"), -1, OTHER, what="chgrp to a group the owner is not in")
            return True
        run_as(USER, USER + 5, make, groups=[USER + 6])
        for n in ("f", "dir", "sym", "fifo"):
            st = os.lstat(os.path.join(d, n))
            exp_gid = USER + 6 if n == "f" else USER + 5
            eq((st.st_uid, st.st_gid), (USER, exp_gid), "owner of %s created by uid %d gid %d" % (n, USER, USER + 5))
        eq(stat.S_IMODE(os.lstat(os.path.join(d, "f")).st_mode), 0o600, "mode set by the owner")
        s.remount()
        eq(os.lstat(os.path.join(d, "dir")).st_uid, USER, "owner after remount")


@test
def setgid_directory_inherits_gid_and_bit():
    with Store() as s:
        d = s.work()
        g = os.path.join(d, "shared")
        os.mkdir(g)
        os.chown(g, 0, 2000)
        os.chmod(g, 0o2777)

        def make():
            write_file(os.path.join(g, "f"), b"")
            os.mkdir(os.path.join(g, "sub"), 0o755)
            os.close(os.open(os.path.join(g, "sgidfile"), os.O_CREAT | os.O_WRONLY, 0o2775))
            return True
        run_as(USER, USER, make)
        f, sub, sg = (os.lstat(os.path.join(g, n)) for n in ("f", "sub", "sgidfile"))
        eq((f.st_uid, f.st_gid), (USER, 2000), "owner of a file made in a setgid directory")
        eq((sub.st_uid, sub.st_gid), (USER, 2000), "owner of a subdirectory made in a setgid directory")
        eq(stat.S_IMODE(sub.st_mode), 0o2755, "mode of the subdirectory (setgid inherited)")
        eq(stat.S_IMODE(sg.st_mode), 0o755, "mode of a 2775 file made by a non-member (setgid stripped)")
        eq(sg.st_gid, 2000, "group of that file")
        # root (a member of everything) keeps the setgid bit it asks for
        os.close(os.open(os.path.join(g, "rootfile"), os.O_CREAT | os.O_WRONLY, 0o2775))
        eq(stat.S_IMODE(os.lstat(os.path.join(g, "rootfile")).st_mode), 0o2755, "mode of a 2775 file made by root")
        os.mkdir(os.path.join(g, "sub", "deeper"))
        st = os.lstat(os.path.join(g, "sub", "deeper"))
        eq((st.st_gid, stat.S_IMODE(st.st_mode) & 0o2000), (2000, 0o2000), "gid and setgid bit two levels down")


@test
def sticky_directory_protects_other_users_files():
    with Store() as s:
        d = s.work()
        t = os.path.join(d, "tmp")
        os.mkdir(t)
        os.chmod(t, 0o1777)
        a = os.path.join(t, "a_file")
        run_as(USER, USER, write_file, a, b"A")
        run_as(OTHER, OTHER, write_file, os.path.join(t, "b_file"), b"B")
        raises(errno.EPERM, run_as, OTHER, OTHER, os.unlink, a, what="unlink of another user's file in a sticky directory")
        raises(errno.EPERM, run_as, OTHER, OTHER, os.rename, a, os.path.join(t, "stolen"), what="rename of another user's file")
        raises(errno.EPERM, run_as, OTHER, OTHER, os.rename, os.path.join(t, "b_file"), a,
               what="rename over another user's file")
        eq(sorted(os.listdir(t)), ["a_file", "b_file"], "listing after the refused operations")
        run_as(OTHER, OTHER, os.rename, os.path.join(t, "b_file"), os.path.join(t, "b2"))
        run_as(USER, USER, os.unlink, a)
        os.unlink(os.path.join(t, "b2"))     # root may
        eq(os.listdir(t), [], "listing after the owners removed their files")


@test
def utimens_now_by_writer_explicit_by_owner_only():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        write_file(p, b"")
        os.chmod(p, 0o666)
        os.utime(p, ns=(10**9, 10**9))
        run_as(USER, USER, os.utime, p, None)
        check(os.lstat(p).st_mtime_ns > 10**9, "mtime after UTIME_NOW by a writer: expected now, saw %d" % os.lstat(p).st_mtime_ns)
        raises(errno.EPERM, run_as, USER, USER, lambda: os.utime(p, ns=(5, 5)), what="explicit utimens by a non-owner")
        os.chmod(p, 0o644)
        raises(errno.EACCES, run_as, USER, USER, os.utime, p, None, what="UTIME_NOW by a non-owner without write permission")


# ------------------------------------------------------------------ xattrs

@test
def xattr_set_get_list_remove():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        write_file(p, b"")
        vals = {"user.a": b"1", "user.empty": b"", "user.bin": bytes(range(256)),
                "user.big": data("xa", 3000), "trusted.t": b"root only"}
        for k, v in vals.items():
            os.setxattr(p, k, v)
        for k, v in vals.items():
            eq(os.getxattr(p, k), v, "getxattr %s" % k)
        eq(sorted(os.listxattr(p)), sorted(vals), "listxattr")
        os.setxattr(p, "user.a", b"22")
        eq(os.getxattr(p, "user.a"), b"22", "getxattr after overwrite")
        os.removexattr(p, "user.a")
        eq(sorted(os.listxattr(p)), sorted(set(vals) - {"user.a"}), "listxattr after remove")
        raises(errno.ENODATA, os.getxattr, p, "user.a", what="getxattr of a removed name")
        raises(errno.ENODATA, os.removexattr, p, "user.a", what="removexattr of a missing name")
        # directories carry xattrs too; symlinks refuse user.*
        os.setxattr(d, "user.dir", b"dv")
        eq(os.getxattr(d, "user.dir"), b"dv", "getxattr on a directory")
        os.symlink("f", os.path.join(d, "l"))
        raises(errno.EPERM, os.setxattr, os.path.join(d, "l"), "user.x", b"1", follow_symlinks=False,
               what="user.* setxattr on a symlink")
        s.remount()
        for k, v in vals.items():
            if k != "user.a":
                eq(os.getxattr(p, k), v, "getxattr %s after remount" % k)
        eq(sorted(os.listxattr(p)), sorted(set(vals) - {"user.a"}), "listxattr after remount")


@test
def xattr_create_replace_flags():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        write_file(p, b"")
        raises(errno.ENODATA, os.setxattr, p, "user.k", b"v", os.XATTR_REPLACE, what="XATTR_REPLACE of a missing name")
        eq(os.listxattr(p), [], "listxattr after the refused XATTR_REPLACE")
        os.setxattr(p, "user.k", b"v1", os.XATTR_CREATE)
        raises(errno.EEXIST, os.setxattr, p, "user.k", b"v2", os.XATTR_CREATE, what="XATTR_CREATE of an existing name")
        eq(os.getxattr(p, "user.k"), b"v1", "value after the refused XATTR_CREATE")
        os.setxattr(p, "user.k", b"v3", os.XATTR_REPLACE)
        eq(os.getxattr(p, "user.k"), b"v3", "value after XATTR_REPLACE")


@test
def xattr_small_buffer_erange():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        write_file(p, b"")
        os.setxattr(p, "user.k", b"0123456789")
        os.setxattr(p, "user.second", b"x")
        eq(getxattr_raw(p, "user.k", 0)[0], 10, "getxattr size query")
        eq(getxattr_raw(p, "user.k", 10), (10, b"0123456789"), "getxattr with an exact buffer")
        raises(errno.ERANGE, getxattr_raw, p, "user.k", 9, what="getxattr with a buffer one byte short")
        need = len(b"user.k\0user.second\0")
        eq(listxattr_raw(p, 0), need, "listxattr size query")
        eq(listxattr_raw(p, need), need, "listxattr with an exact buffer")
        raises(errno.ERANGE, listxattr_raw, p, need - 1, what="listxattr with a buffer one byte short")


@test
def xattr_size_limits():
    with Store() as s:
        d = s.work()
        p = os.path.join(d, "f")
        write_file(p, b"")
        name255 = "user." + "n" * 250
        os.setxattr(p, name255, b"long name")
        eq(os.getxattr(p, name255), b"long name", "getxattr of a 255-byte name")
        raises(errno.ERANGE, os.setxattr, p, "user." + "n" * 251, b"v", what="setxattr of a 256-byte name")
        raises(errno.ERANGE, os.getxattr, p, "user." + "n" * 251, what="getxattr of a 256-byte name")
        raises(errno.E2BIG, os.setxattr, p, "user.huge", bytes(65537), what="setxattr of a 64 KiB + 1 value")
        v = data("xl", 65536)
        try:
            os.setxattr(p, "user.max", v)
        except OSError as e:   # ext4 without ea_inode has no room for it
            check(e.errno in (errno.ENOSPC, errno.E2BIG), "setxattr of a 64 KiB value: expected success, ENOSPC or E2BIG, saw %s" % e)
        else:
            eq(os.getxattr(p, "user.max"), v, "getxattr of a 64 KiB value")
        raises(errno.ENODATA, os.getxattr, p, "user.huge", what="getxattr of the refused value")


if __name__ == "__main__":
    main()
