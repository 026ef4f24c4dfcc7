#!/usr/bin/env python3
"""Directory versions are described like file versions: size, writer,
manifest digest, completeness, the current version, read-only files."""
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import zipfile

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFSCTL_BIN, Store, check, data, eq, main, run_as,  # noqa: E402
                     skip_native, test, write_file)


def ctl(*args):
    r = subprocess.run([AIFSCTL_BIN] + list(args), capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def commit(d):
    rc, out, err = ctl("checkpoint", "commit", d)
    eq(rc, 0, "aifsctl checkpoint commit %s: %s%s" % (d, out, err))


def versions_json(path):
    rc, out, err = ctl("versions", "--json", path)
    eq(rc, 0, "aifsctl versions --json %s: %s" % (path, err))
    return json.loads(out)


def manifest_digest(root):
    """The digest as aifs(7) defines it, computed from the files alone."""
    lines = []
    for top, dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(top, f)
            with open(p, "rb") as fh:
                h = hashlib.sha256(fh.read()).hexdigest()
            lines.append((os.path.relpath(p, root).encode(), h))
    lines.sort()
    m = b"".join(b"%s  %s\n" % (h.encode(), p) for p, h in lines)
    return hashlib.sha256(m).hexdigest()


def zip_bytes(members):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        for name, content in members.items():
            z.writestr(name, content)
    return b.getvalue()


@test
def directory_versions_have_size_digest_writer_and_current():
    skip_native()
    with Store() as s:
        d = os.path.join(s.mnt, "checkpoints", "run")
        os.makedirs(os.path.join(d, "sub"))
        a, b = data("a", 5000), data("b", 300000)
        write_file(os.path.join(d, "config.json"), a)
        write_file(os.path.join(d, "sub", "weights.bin"), b)
        commit(d)
        write_file(os.path.join(d, "config.json"), a + b"2")
        commit(d)
        j = versions_json(d)
        eq([v["version"] for v in j["versions"]], [1, 2], "versions of the directory")
        eq(j["current"], 2, "current version of the directory")
        for v, size in zip(j["versions"], (5000 + 300000, 5001 + 300000)):
            vdir = os.path.join(s.mnt, "checkpoints", ".aifs", "versions", "run", str(v["version"]))
            eq(v["size"], size, "size of directory version %d" % v["version"])
            eq(v["complete"], True, "complete of directory version %d" % v["version"])
            eq(v["sha256"], manifest_digest(vdir), "digest of directory version %d" % v["version"])
            check(v["writer"].startswith("uid=0 pid="), "writer of version %d: %r" % (
                v["version"], v["writer"]))
            eq(os.getxattr(d + "@v%d" % v["version"], "user.aifs.tier"), b"hot",
               "user.aifs.tier of directory version %d" % v["version"])
        eq([v["current"] for v in j["versions"]], [False, True], "current flags")
        check(j["versions"][0]["sha256"] != j["versions"][1]["sha256"], "digests of two "
              "different versions must differ")
        # the digest is kept: the same after a remount
        s.remount()
        eq(versions_json(d)["versions"][1]["sha256"], j["versions"][1]["sha256"],
           "digest after a remount")
        rc, out, err = ctl("versions", d)
        eq(rc, 0, "aifsctl versions %s: %s" % (d, err))
        check("(current)" in out.splitlines()[2] and str(size) in out.splitlines()[2],
              "table of versions: expected version 2 current with its size, saw:\n" + out)


@test
def torn_file_makes_a_directory_version_incomplete():
    skip_native()
    with Store() as s:
        d = os.path.join(s.mnt, "checkpoints", "run")
        os.makedirs(d)
        good = zip_bytes({"archive/data.pkl": data("w", 200000)})
        write_file(os.path.join(d, "model.pt"), good)
        commit(d)
        # a torn save made elsewhere and moved in (a file saved in the area
        # itself is rolled back to its last whole version at close)
        write_file(os.path.join(s.mnt, "torn.pt"), good[: len(good) // 2])
        os.rename(os.path.join(s.mnt, "torn.pt"), os.path.join(d, "model.pt"))
        commit(d)
        j = versions_json(d)
        eq([v["complete"] for v in j["versions"]], [True, False], "complete flags")
        eq(j["current"], 1, "current: the newest complete version, not the torn one")
        write_file(os.path.join(d, "model.pt"), good)
        commit(d)
        j = versions_json(d)
        eq([v["complete"] for v in j["versions"]], [True, False, True], "complete flags")
        eq(j["current"], 3, "current after a whole save")


@test
def files_of_a_directory_version_are_shown_read_only():
    skip_native()
    with Store() as s:
        d = os.path.join(s.mnt, "checkpoints", "run")
        os.makedirs(d)
        write_file(os.path.join(d, "f"), b"x" * 100, mode=0o664)
        commit(d)
        vdir = os.path.join(s.mnt, "checkpoints", ".aifs", "versions", "run", "1")
        m = stat.S_IMODE(os.stat(os.path.join(vdir, "f")).st_mode)
        eq(m, 0o444, "mode of a file in a directory version")
        eq(stat.S_IMODE(os.stat(vdir).st_mode) & 0o222, 0, "write bits of the version's root")
        try:
            os.open(os.path.join(vdir, "f"), os.O_WRONLY)
            raise AssertionError("open for writing of a version's file succeeded")
        except OSError as e:
            check(e.errno in (30, 13), "open for writing: expected EROFS or EACCES, saw %s" % e)
        # other users read the version as they read the directory
        os.chmod(d, 0o755)

        def read():
            with open(os.path.join(vdir, "f"), "rb") as fh:
                return fh.read()
        eq(run_as(4243, 4243, read), b"x" * 100, "read of a version's file by another user")


def vlist(s, name):
    return sorted(int(v) for v in os.listdir(os.path.join(s.mnt, "checkpoints", ".aifs", "versions", name)))


@test
def directory_versions_are_held_and_pruned_like_file_versions():
    skip_native()
    with Store(opts="keep_versions=2") as s:
        d = os.path.join(s.mnt, "checkpoints", "run")
        os.makedirs(d)
        write_file(os.path.join(d, "w"), data("w1", 100000))
        commit(d)
        hold = os.path.join(s.mnt, "checkpoints", "run@v1")
        rc, out, err = ctl("hold", hold, "paper")
        eq(rc, 0, "aifsctl hold of a directory version: " + err)
        eq(os.getxattr(hold, "user.aifs.holds"), b"paper", "holds of the directory version")
        for i in (2, 3, 4):
            write_file(os.path.join(d, "w"), data("w%d" % i, 100000))
            commit(d)
        eq(vlist(s, "run"), [1, 3, 4], "versions kept with keep_versions=2 and version 1 held")
        try:
            subprocess.run(["rm", "-rf", d], check=True, capture_output=True)
            raise AssertionError("removing a directory with a held version succeeded")
        except subprocess.CalledProcessError as e:
            check(b"busy" in e.stderr, "rm -rf of a directory with a held version: expected "
                  "EBUSY, saw %r" % e.stderr)
        rc, out, err = ctl("unhold", hold, "paper")
        eq(rc, 0, "aifsctl unhold: " + err)
        write_file(os.path.join(d, "w"), data("w5", 100000))
        commit(d)
        eq(vlist(s, "run"), [4, 5], "versions once the hold was lifted")
        with open(os.path.join(s.mnt, "checkpoints", ".aifs", "versions", "run", "4", "w"), "rb") as f:
            eq(f.read(), data("w4", 100000), "version 4 after pruning")
        subprocess.run(["rm", "-rf", d], check=True)
        s.unmount()
        s.fsck_clean("fsck after pruning and removing directory versions")


def tree(root):
    out = {}
    for top, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(top, d), root)] = "dir"
        for f in files:
            with open(os.path.join(top, f), "rb") as fh:
                out[os.path.relpath(os.path.join(top, f), root)] = fh.read()
    return out


@test
def restore_of_a_directory_version():
    skip_native()
    with Store() as s:
        d = os.path.join(s.mnt, "checkpoints", "run")
        os.makedirs(os.path.join(d, "sub"))
        write_file(os.path.join(d, "a"), data("a1", 70000))
        write_file(os.path.join(d, "b"), b"bee")
        write_file(os.path.join(d, "sub", "c"), data("c1", 5000))
        commit(d)
        v1 = tree(d)
        write_file(os.path.join(d, "a"), data("a2", 90000))
        os.unlink(os.path.join(d, "b"))
        write_file(os.path.join(d, "new"), b"new")
        subprocess.run(["rm", "-rf", os.path.join(d, "sub")], check=True)
        write_file(os.path.join(d, "sub"), b"a file where a directory was")
        commit(d)
        v2 = tree(d)
        a_versions = len(os.listdir(os.path.join(d, ".aifs", "versions", "a")))
        rc, out, err = ctl("restore", d, "1")
        eq(rc, 0, "aifsctl restore of a directory version: " + err)
        eq(tree(d), v1, "the directory after restoring version 1")
        j = versions_json(d)
        eq([v["version"] for v in j["versions"]], [1, 2, 3, 4],
           "versions: the one before the restore kept, the restored one newest")
        eq(j["versions"][3]["sha256"], j["versions"][0]["sha256"], "digest of the restored version")
        eq(j["versions"][2]["sha256"], j["versions"][1]["sha256"],
           "digest of the version kept before the restore")
        eq(tree(os.path.join(s.mnt, "checkpoints", ".aifs", "versions", "run", "3")), v2,
           "what the directory held before the restore, as version 3")
        eq(len(os.listdir(os.path.join(d, ".aifs", "versions", "a"))), a_versions + 1,
           "a restored file continues its own history")
        # a save under way refuses the restore
        fd = os.open(os.path.join(d, "a"), os.O_WRONLY | os.O_TRUNC)
        os.write(fd, b"partial")
        rc, out, err = ctl("restore", d, "2")
        check(rc != 0 and "busy" in err, "restore while a file is being written: %d %s" % (rc, err))
        os.close(fd)
        s.remount()
        eq(tree(os.path.join(s.mnt, "checkpoints", ".aifs", "versions", "run", "4")), v1,
           "version 4 after a remount")
        s.unmount()
        s.fsck_clean("fsck after a directory restore")


if __name__ == "__main__":
    main()
