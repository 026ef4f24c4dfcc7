#!/usr/bin/python3
"""Checkpoint areas and versions (issue 3): areas, write sessions that end in numbered,
immutable versions, .aifs/versions and FILE@vN views, user.aifs.* records, torn-save
detection, history following rename, keep_versions retention, durability.

Uses real PyTorch (/usr/bin/python3 with python3-torch); torch is imported only by the
tests that need it.
"""

import errno
import hashlib
import json
import os
import select
import signal
import stat
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFSCTL_BIN, Fail, Skip, Store, check, data, eq, main, raises, read_all,  # noqa: E402
                     run_as, same_bytes, skip_native, test, write_file)

MiB = 1 << 20
PYTHON = "/usr/bin/python3"
SHA256_EMPTY = hashlib.sha256(b"").hexdigest().encode()


# ------------------------------------------------------------------ local helpers

def area(path):
    return os.getxattr(path, "user.aifs.area")


def rec(path):
    """The per-version record of a file or version: (version, sha256, complete) as bytes."""
    return (os.getxattr(path, "user.aifs.version"), os.getxattr(path, "user.aifs.sha256"),
            os.getxattr(path, "user.aifs.complete"))


def sha(b):
    return hashlib.sha256(b).hexdigest().encode()


def vdir(d, name):
    return os.path.join(d, ".aifs", "versions", name)


def versions(d, name):
    """Version numbers listed in D/.aifs/versions/NAME, as ints in listing order sorted."""
    try:
        names = os.listdir(vdir(d, name))
    except FileNotFoundError:
        return []
    for n in names:
        check(n.isdigit(), "%s: expected only decimal version names, saw %r in %s" % (
            name, n, sorted(names)))
    return sorted(int(n) for n in names)


def wait_versions(d, name, expected, timeout=10.0):
    """Poll until D/.aifs/versions/NAME lists exactly EXPECTED (release is asynchronous)."""
    deadline = time.time() + timeout
    seen = versions(d, name)
    while seen != expected and time.time() < deadline:
        time.sleep(0.05)
        seen = versions(d, name)
    eq(seen, expected, "versions of %s within %.0f s" % (name, timeout))


def check_version(d, name, n, content, complete=True, what=""):
    """Version N of D/NAME, through both views: regular, read-only, exact bytes and record."""
    what = what or "%s version %d" % (name, n)
    for p in (os.path.join(vdir(d, name), str(n)), os.path.join(d, "%s@v%d" % (name, n))):
        rel = os.path.relpath(p, d)
        st = os.stat(p)
        check(stat.S_ISREG(st.st_mode), "%s: %s: expected a regular file, saw mode %o" % (what, rel, st.st_mode))
        eq(st.st_mode & 0o222, 0, "%s: %s: write bits of mode %o" % (what, rel, st.st_mode))
        eq(st.st_size, len(content), "%s: %s: st_size" % (what, rel))
        same_bytes(read_all(p), content, "%s: %s: content" % (what, rel))
        eq(rec(p), (str(n).encode(), sha(content), b"true" if complete else b"false"),
           "%s: %s: (user.aifs.version, sha256, complete)" % (what, rel))


def check_current(d, name, n, content, what=""):
    """D/NAME serves version N (the newest complete one) with CONTENT."""
    what = what or name
    p = os.path.join(d, name)
    eq(os.stat(p).st_size, len(content), "%s: st_size of the name" % what)
    same_bytes(read_all(p), content, "%s: content of the name" % what)
    eq(rec(p), (str(n).encode(), sha(content), b"true"),
       "%s: (user.aifs.version, sha256, complete) of the name" % what)


def save_bytes(path, content):
    """One write session: open O_TRUNC, write, close (close returns after the commit)."""
    write_file(path, content)


def hot_usage(s):
    """Bytes allocated by the store's hot tier (sum of st_blocks * 512 under STORE/hot)."""
    total = 0
    for dirpath, _, files in os.walk(os.path.join(s.store, "hot")):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def wait_usage_at_most(s, limit, timeout=10.0):
    deadline = time.time() + timeout
    u = hot_usage(s)
    while u > limit and time.time() < deadline:
        time.sleep(0.2)
        u = hot_usage(s)
    return u


def ckpt_dir(s, name="run"):
    d = os.path.join(s.mnt, "checkpoints", name)
    os.makedirs(d)
    return d


def torch_mod():
    import torch
    return torch


def tload(path):
    torch = torch_mod()
    return torch.load(path, weights_only=True)


def same_state(seen, expected, what):
    """Compare two state dicts tensor by tensor (names, dtype, shape, every element)."""
    torch = torch_mod()
    eq(list(seen.keys()), list(expected.keys()), "%s: tensor names" % what)
    for k in expected:
        a, b = seen[k], expected[k]
        eq((a.dtype, tuple(a.shape)), (b.dtype, tuple(b.shape)), "%s: dtype and shape of %s" % (what, k))
        if not torch.equal(a, b):
            diff = (a.double() - b.double()).abs()
            raise Fail("%s: tensor %s: expected equal to the recorded one, saw %d differing elements "
                       "(max abs difference %g)" % (what, k, int((diff != 0).sum()), float(diff.max())))


def safetensors_bytes(tensors):
    """A safetensors file made by hand: u64 LE header length, JSON header, data."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


# ------------------------------------------------------------------ areas

@test
def areas_exist_with_policies():
    skip_native()
    with Store() as s:
        eq(sorted(os.listdir(s.mnt)), ["audit", "checkpoints", "datasets"], "root listing of a fresh store")
        for name, want in (("checkpoints", b"checkpoint"), ("datasets", b"dataset"), ("audit", b"journal")):
            p = os.path.join(s.mnt, name)
            check(stat.S_ISDIR(os.lstat(p).st_mode), "%s: expected a directory" % name)
            eq(area(p), want, "user.aifs.area of %s" % name)
        eq(area(s.mnt), b"plain", "user.aifs.area of the root")
        # what is created below inherits, files and directories alike
        d = ckpt_dir(s, "a/b")
        write_file(os.path.join(d, "f"), b"x")
        for p in (os.path.join(s.mnt, "checkpoints", "a"), d, os.path.join(d, "f")):
            eq(area(p), b"checkpoint", "user.aifs.area of %s" % os.path.relpath(p, s.mnt))
        os.mkdir(os.path.join(s.mnt, "datasets", "imgs"))
        write_file(os.path.join(s.mnt, "datasets", "imgs", "0.jpg"), b"jpg")
        eq(area(os.path.join(s.mnt, "datasets", "imgs")), b"dataset", "user.aifs.area of datasets/imgs")
        eq(area(os.path.join(s.mnt, "datasets", "imgs", "0.jpg")), b"dataset",
           "user.aifs.area of datasets/imgs/0.jpg")
        write_file(os.path.join(s.mnt, "top"), b"top")
        eq(area(os.path.join(s.mnt, "top")), b"plain", "user.aifs.area of a file in the root")
        for p in (s.mnt, os.path.join(s.mnt, "checkpoints")):
            check(".aifs" not in os.listdir(p), "readdir of %s: expected no .aifs entry, saw %s" % (
                p, sorted(os.listdir(p))))
            check(stat.S_ISDIR(os.stat(os.path.join(p, ".aifs")).st_mode),
                  "%s/.aifs: expected reachable by name as a directory" % p)


@test
def area_set_and_inherited():
    skip_native()
    with Store() as s:
        d = s.work("mine")
        eq(area(d), b"plain", "user.aifs.area of a new directory in the (plain) root")
        write_file(os.path.join(d, "before"), b"before")
        os.setxattr(d, "user.aifs.area", b"checkpoint")
        eq(area(d), b"checkpoint", "user.aifs.area after setting it to checkpoint")
        write_file(os.path.join(d, "f.pt"), b"one")
        write_file(os.path.join(d, "f.pt"), b"two")
        os.mkdir(os.path.join(d, "sub"))
        write_file(os.path.join(d, "sub", "g"), b"g")
        for rel in ("f.pt", "sub", "sub/g"):
            eq(area(os.path.join(d, rel)), b"checkpoint", "user.aifs.area of %s created after the set" % rel)
        # the new area is live: files created under it get versions
        eq(versions(d, "f.pt"), [1, 2], "versions of a file in a directory set to checkpoint")
        check_version(d, "f.pt", 1, b"one")
        check_current(d, "f.pt", 2, b"two")
        # inheritance happens at creation: a later change of the parent leaves children alone
        os.setxattr(d, "user.aifs.area", b"dataset")
        eq(area(d), b"dataset", "user.aifs.area after setting it to dataset")
        eq(area(os.path.join(d, "sub")), b"checkpoint", "user.aifs.area of sub after its parent changed")
        write_file(os.path.join(d, "later"), b"later")
        eq(area(os.path.join(d, "later")), b"dataset", "user.aifs.area of a file created after the change")
        os.setxattr(d, "user.aifs.area", b"plain")
        eq(area(d), b"plain", "user.aifs.area after setting it back to plain")
        # errors
        raises(errno.ENOTDIR, os.setxattr, os.path.join(d, "later"), "user.aifs.area", b"checkpoint",
               what="setxattr user.aifs.area on a regular file")
        for bad in (b"bogus", b"", b"checkpoints", b"checkpoint\0"):
            raises(errno.EINVAL, os.setxattr, d, "user.aifs.area", bad,
                   what="setxattr user.aifs.area = %r" % bad)
        eq(area(d), b"plain", "user.aifs.area after rejected sets")
        # only the owner or root
        raises((errno.EPERM, errno.EACCES), run_as, 1000, 1000, os.setxattr, d, "user.aifs.area", b"checkpoint",
               what="setxattr user.aifs.area by uid 1000 on a directory owned by root")
        eq(area(d), b"plain", "user.aifs.area after a refused set by a non-owner")
        theirs = os.path.join(d, "theirs")
        os.mkdir(theirs)
        os.chown(theirs, 1000, 1000)
        run_as(1000, 1000, os.setxattr, theirs, "user.aifs.area", b"checkpoint")
        eq(area(theirs), b"checkpoint", "user.aifs.area set by the directory's owner (uid 1000)")


# ------------------------------------------------------------------ versions

@test
def torch_training_loop_every_epoch_version_loads_exactly():
    skip_native()
    torch = torch_mod()
    with Store() as s:
        d = ckpt_dir(s)
        path = os.path.join(d, "model.pt")
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        g = torch.Generator().manual_seed(1)
        X, Y = torch.randn(512, 16, generator=g), torch.randn(512, 4, generator=g)
        epochs, states, saved = 5, {}, {}
        ref = os.path.join(s.base, "ref", "model.pt")      # the same save on the local disk
        os.mkdir(os.path.dirname(ref))
        for epoch in range(1, epochs + 1):
            for i in range(0, len(X), 64):
                loss = torch.nn.functional.mse_loss(model(X[i:i + 64]), Y[i:i + 64])
                opt.zero_grad()
                loss.backward()
                opt.step()
            torch.save(model.state_dict(), path)
            states[epoch] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            torch.save(model.state_dict(), ref)      # torch.save is deterministic: the expected bytes
            saved[epoch] = read_all(ref)
            eq(os.getxattr(path, "user.aifs.version"), str(epoch).encode(),
               "user.aifs.version right after the torch.save of epoch %d returned" % epoch)
        check(not torch.equal(states[1]["0.weight"], states[epochs]["0.weight"]),
              "training: expected the weights to change between epochs")
        eq(versions(d, "model.pt"), list(range(1, epochs + 1)), "versions listed after %d epochs" % epochs)
        eq(sorted(os.listdir(vdir(d, ""))), ["model.pt"], "files listed in .aifs/versions")
        for epoch in range(1, epochs + 1):
            check_version(d, "model.pt", epoch, saved[epoch], what="epoch %d" % epoch)
            same_state(tload(os.path.join(d, "model.pt@v%d" % epoch)), states[epoch],
                       "torch.load(model.pt@v%d)" % epoch)
            same_state(tload(os.path.join(vdir(d, "model.pt"), str(epoch))), states[epoch],
                       "torch.load(.aifs/versions/model.pt/%d)" % epoch)
        check_current(d, "model.pt", epochs, saved[epochs])
        same_state(tload(path), states[epochs], "torch.load(model.pt)")
        raises(errno.ENOENT, os.stat, os.path.join(d, "model.pt@v%d" % (epochs + 1)),
               what="stat model.pt@v%d (no such version)" % (epochs + 1))
        raises(errno.ENOENT, os.stat, os.path.join(d, "model.pt@v0"), what="stat model.pt@v0")
        raises(errno.ENOENT, os.stat, os.path.join(vdir(d, "model.pt"), str(epochs + 1)),
               what="stat .aifs/versions/model.pt/%d" % (epochs + 1))
        eq(os.listdir(d), ["model.pt"], "listing of the run directory (no aliases, no .aifs)")


@test
def versions_listing_holds_only_versioned_files():
    skip_native()
    with Store() as s:
        d = ckpt_dir(s)
        write_file(os.path.join(d, "a"), b"a1")
        fd = os.open(os.path.join(d, "never"), os.O_CREAT | os.O_WRONLY, 0o644)   # no write, no O_TRUNC
        os.close(fd)
        os.mkdir(os.path.join(d, "subdir"))
        write_file(os.path.join(d, "subdir", "inner"), b"in")
        time.sleep(0.5)                                    # let any release reach the daemon
        eq(sorted(os.listdir(vdir(d, ""))), ["a"], "%s/.aifs/versions listing" % os.path.relpath(d, s.mnt))
        eq(versions(d, "never"), [], "versions of a file created and closed without a write")
        raises(errno.ENOENT, os.stat, os.path.join(d, "never@v1"), what="stat never@v1")
        eq(sorted(os.listdir(os.path.join(d, "subdir", ".aifs", "versions"))), ["inner"],
           "subdir/.aifs/versions listing")
        eq(sorted(os.listdir(d)), ["a", "never", "subdir"], "readdir of the directory")


@test
def version_listing_in_one_read():
    """DIR/.aifs/versions/FILE/index.json lists every version with what stat and the
    user.aifs.* attributes of each say (aifsctl versions reads it): found by name, never
    listed, its writer's bytes whole whatever they are."""
    skip_native()
    with Store() as s:
        d = ckpt_dir(s)
        p = os.path.join(d, "m.safetensors")
        good = safetensors_bytes({"w": ("F32", [100], data("w", 400))})
        save_bytes(p, good)
        # a writer whose command name is not ASCII and holds a quote and a backslash
        comm = b'w\xc3\xa9"\\\x01z'
        code = ("import os, sys\n"
                "open('/proc/self/comm', 'wb').write(%r)\n"
                "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)\n"
                "os.write(fd, bytes.fromhex(sys.argv[2])); os.close(fd)\n" % comm)
        subprocess.run([PYTHON, "-c", code, p, good[:len(good) - 10].hex()], check=True)
        save_bytes(p, good + b"")
        wait_versions(d, "m.safetensors", [1, 2, 3])
        eq(versions(d, "m.safetensors"), [1, 2, 3], "listing of .aifs/versions/m.safetensors "
           "(index.json is not listed)")
        with open(os.path.join(vdir(d, "m.safetensors"), "index.json"), "rb") as f:
            doc = json.loads(f.read())
        eq(doc["current"], 3, "index.json: current")
        eq([v["version"] for v in doc["versions"]], [1, 2, 3], "index.json: version numbers")
        for v in doc["versions"]:
            vp = os.path.join(vdir(d, "m.safetensors"), str(v["version"]))
            st = os.stat(vp)
            eq((v["size"], v["time_ns"]), (st.st_size, st.st_mtime_ns),
               "index.json: size and time of version %d against stat" % v["version"])
            eq((v["sha256"].encode(), b"true" if v["complete"] else b"false",
                v["writer"].encode("latin-1"), v["tier"].encode()),
               (os.getxattr(vp, "user.aifs.sha256"), os.getxattr(vp, "user.aifs.complete"),
                os.getxattr(vp, "user.aifs.writer"), os.getxattr(vp, "user.aifs.tier")),
               "index.json: sha256, complete, writer, tier of version %d against its "
               "attributes" % v["version"])
        eq([v["complete"] for v in doc["versions"]], [True, False, True], "complete flags")
        check(doc["versions"][1]["writer"].encode("latin-1").endswith(b"comm=" + comm),
              "writer of version 2: %r" % doc["versions"][1]["writer"])
        out = subprocess.run([AIFSCTL_BIN, "versions", "--json", p],
                             capture_output=True, check=True).stdout
        j = json.loads(out.decode("utf-8", "surrogateescape"))
        eq([(v["version"], v["current"], v["complete"]) for v in j["versions"]],
           [(1, False, True), (2, False, False), (3, True, True)], "aifsctl versions --json")
        eq(j["versions"][1]["writer"].encode("utf-8", "surrogateescape"),
           os.getxattr(os.path.join(vdir(d, "m.safetensors"), "2"), "user.aifs.writer"),
           "aifsctl versions --json: the writer's bytes")
        never = os.path.join(d, "never")
        os.close(os.open(never, os.O_CREAT | os.O_WRONLY, 0o644))
        raises(errno.ENOENT, os.stat, os.path.join(vdir(d, "never"), "index.json"),
               what="index.json of a file without versions")


@test
def write_session_commits_once_per_session():
    skip_native()
    with Store() as s:
        d = ckpt_dir(s)
        p = os.path.join(d, "w.bin")
        v1 = data("v1", 300000)
        save_bytes(p, v1)
        eq(versions(d, "w.bin"), [1], "versions after the first save")
        # many writes in one session: one version
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        v2 = b"".join(data(("v2", i), 70001) for i in range(10))
        for i in range(10):
            os.write(fd, v2[i * 70001:(i + 1) * 70001])
        os.close(fd)
        eq(versions(d, "w.bin"), [1, 2], "versions after one session of 10 writes")
        # a write without O_TRUNC in place: the version is the old content with the patch
        fd = os.open(p, os.O_RDWR)
        os.pwrite(fd, b"PATCH", 1000)
        os.close(fd)
        v3 = v2[:1000] + b"PATCH" + v2[1005:]
        eq(versions(d, "w.bin"), [1, 2, 3], "versions after an in-place write")
        # opened for writing and closed without a write: no version
        fd = os.open(p, os.O_WRONLY)
        os.close(fd)
        time.sleep(0.5)
        eq(versions(d, "w.bin"), [1, 2, 3], "versions after an open for writing without a write")
        # O_TRUNC without a write: a session that ends at the last release, version of 0 bytes
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        os.close(fd)
        wait_versions(d, "w.bin", [1, 2, 3, 4])
        # two write handles: the session ends when the last one goes, one version
        fd1 = os.open(p, os.O_WRONLY | os.O_TRUNC)
        fd2 = os.open(p, os.O_WRONLY)
        os.pwrite(fd1, b"first half ", 0)
        os.pwrite(fd2, b"second half", 11)
        os.close(fd1)
        time.sleep(0.5)
        eq(versions(d, "w.bin"), [1, 2, 3, 4], "versions while a second write handle is still open")
        os.close(fd2)
        wait_versions(d, "w.bin", [1, 2, 3, 4, 5])
        time.sleep(0.5)
        eq(versions(d, "w.bin"), [1, 2, 3, 4, 5], "versions after both write handles closed")
        for n, c in ((1, v1), (2, v2), (3, v3), (4, b""), (5, b"first half second half")):
            check_version(d, "w.bin", n, c)
        eq(os.getxattr(os.path.join(d, "w.bin@v4"), "user.aifs.sha256"), SHA256_EMPTY,
           "sha256 of the empty version 4")
        check_current(d, "w.bin", 5, b"first half second half")


@test
def reader_during_session_sees_last_version():
    skip_native()
    with Store() as s:
        d = ckpt_dir(s)
        p = os.path.join(d, "m.bin")
        old, new = data("old", 200000), data("new", 333333)
        save_bytes(p, old)
        fdw = os.open(p, os.O_RDWR | os.O_TRUNC)
        os.write(fdw, new[:100000])
        fdr = os.open(p, os.O_RDONLY)
        got = b""
        while True:
            b = os.read(fdr, 65536)
            if not b:
                break
            got += b
        same_bytes(got, old, "reader opened during the session (after the truncate and a first write)")
        eq(os.getxattr(p, "user.aifs.version"), b"1", "user.aifs.version of the name during the session")
        os.write(fdw, new[100000:])
        same_bytes(os.pread(fdw, len(new) + 10, 0), new, "the writer reading through its own descriptor")
        same_bytes(read_all(p), old, "a second reader opened late in the session")
        # what the reader learns of the size must match what it reads (torch.load, mmap and
        # zipfile seek to the end to find the size)
        reader_sizes = (os.fstat(fdr).st_size, os.lseek(fdr, 0, os.SEEK_END))
        os.close(fdr)
        os.close(fdw)
        eq(versions(d, "m.bin"), [1, 2], "versions after the session")
        check_current(d, "m.bin", 2, new, "after close")
        check_version(d, "m.bin", 1, old)
        eq(reader_sizes, (len(old), len(old)),
           "(fstat st_size, lseek SEEK_END) of the reader's descriptor during the session")


@test
def torch_load_during_save_gets_last_version():
    skip_native()
    torch = torch_mod()
    import io
    with Store() as s:
        d = ckpt_dir(s)
        path = os.path.join(d, "model.pt")
        first, second = _state(11, 256), _state(12, 256)
        torch.save(first, path)
        buf = io.BytesIO()
        torch.save(second, buf)
        nxt = buf.getvalue()
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)      # a save in progress, half written
        try:
            os.write(fd, nxt[:len(nxt) // 2])
            try:
                got = tload(path)
            except RuntimeError as e:
                raise Fail("torch.load(model.pt) while a save is half written: expected the state of "
                           "version 1, saw %s" % e) from None
            same_state(got, first, "torch.load(model.pt) while a save is half written")
        finally:
            os.write(fd, nxt[len(nxt) // 2:])
            os.close(fd)
        same_state(tload(path), second, "torch.load(model.pt) after the save")


@test
def version_files_are_read_only():
    skip_native()
    with Store() as s:
        d = ckpt_dir(s)
        p = os.path.join(d, "ro.pt")
        save_bytes(p, b"version one")
        save_bytes(p, b"version two!")
        for v in (os.path.join(vdir(d, "ro.pt"), "1"), os.path.join(d, "ro.pt@v1")):
            rel = os.path.relpath(v, d)
            for flags, name in ((os.O_WRONLY, "O_WRONLY"), (os.O_RDWR, "O_RDWR"),
                                (os.O_WRONLY | os.O_TRUNC, "O_WRONLY|O_TRUNC"), (os.O_WRONLY | os.O_APPEND, "O_APPEND")):
                raises(errno.EROFS, os.open, v, flags, what="open(%s, %s) as root" % (rel, name))
            raises(errno.EROFS, os.truncate, v, 0, what="truncate(%s)" % rel)
            raises(errno.EROFS, os.setxattr, v, "user.note", b"x", what="setxattr(%s, user.note)" % rel)
            raises(errno.EROFS, os.setxattr, v, "user.aifs.complete", b"false",
                   what="setxattr(%s, user.aifs.complete)" % rel)
            check_version(d, "ro.pt", 1, b"version one", what="%s after refused writes" % rel)
        check_current(d, "ro.pt", 2, b"version two!")
        eq(versions(d, "ro.pt"), [1, 2], "versions after refused writes")


@test
def alias_names_rejected_in_checkpoint_dirs():
    skip_native()
    with Store() as s:
        d = ckpt_dir(s)
        save_bytes(os.path.join(d, "m.pt"), b"m1")
        write_file(os.path.join(d, "plainname"), b"p")
        for name in ("new@v1", "m.pt@v7", "x@v12"):
            p = os.path.join(d, name)
            raises(errno.EINVAL, os.open, p, os.O_CREAT | os.O_WRONLY, 0o644, what="create %s" % name)
            raises(errno.EINVAL, os.mkdir, p, what="mkdir %s" % name)
            raises(errno.EINVAL, os.symlink, "m.pt", p, what="symlink %s" % name)
            raises(errno.EINVAL, os.link, os.path.join(d, "plainname"), p, what="link %s" % name)
            raises(errno.EINVAL, os.rename, os.path.join(d, "plainname"), p, what="rename plainname to %s" % name)
        eq(sorted(os.listdir(d)), ["m.pt", "plainname"], "listing after the refused creations")
        eq(read_all(os.path.join(d, "plainname")), b"p", "plainname after the refused renames")
        # the same names are ordinary outside checkpoint areas
        w = s.work("plain")
        for name in ("new@v1", "m.pt@v7"):
            write_file(os.path.join(w, name), b"ok")
            eq(read_all(os.path.join(w, name)), b"ok", "file %s in a plain directory" % name)
        os.mkdir(os.path.join(w, "dir@v2"))
        eq(sorted(os.listdir(w)), ["dir@v2", "m.pt@v7", "new@v1"], "listing of the plain directory")


@test
def tmp_then_os_replace_continues_history():
    skip_native()
    torch = torch_mod()
    with Store() as s:
        d = ckpt_dir(s)
        path, tmp = os.path.join(d, "model.pt"), os.path.join(d, "model.pt.tmp")
        contents = [data(("direct", i), 50000 + i) for i in range(3)]
        for c in contents:
            save_bytes(path, c)
        eq(versions(d, "model.pt"), [1, 2, 3], "versions after 3 direct saves")
        # tmp written once, then renamed over the name: version 4
        t1 = data("tmp1", 70000)
        save_bytes(tmp, t1)
        eq(versions(d, "model.pt.tmp"), [1], "versions of the tmp file before the rename")
        os.replace(tmp, path)
        contents.append(t1)
        check(not os.path.lexists(tmp), "tmp: expected gone after os.replace")
        eq(versions(d, "model.pt"), [1, 2, 3, 4], "versions of model.pt after os.replace")
        eq(sorted(os.listdir(vdir(d, ""))), ["model.pt"], ".aifs/versions after the rename")
        # tmp written twice (two sessions), then renamed: versions 5 and 6, in order
        t2, t3 = data("tmp2", 1234), data("tmp3", 4321)
        save_bytes(tmp, t2)
        save_bytes(tmp, t3)
        eq(versions(d, "model.pt.tmp"), [1, 2], "versions of the twice-written tmp file")
        os.rename(tmp, path)
        contents += [t2, t3]
        eq(versions(d, "model.pt"), [1, 2, 3, 4, 5, 6], "versions after renaming a tmp with 2 versions")
        # the torch pattern: torch.save(tmp) then os.replace
        state = {"w": torch.arange(1000, dtype=torch.float32).reshape(10, 100), "b": torch.ones(7)}
        torch.save(state, tmp)
        os.replace(tmp, path)
        with open(path, "rb") as f:
            contents.append(f.read())
        eq(versions(d, "model.pt"), [1, 2, 3, 4, 5, 6, 7], "versions after torch.save(tmp) + os.replace")
        for n, c in enumerate(contents, 1):
            check_version(d, "model.pt", n, c)
        check_current(d, "model.pt", 7, contents[-1])
        same_state(tload(path), state, "torch.load(model.pt) after os.replace")
        same_state(tload(os.path.join(d, "model.pt@v7")), state, "torch.load(model.pt@v7)")
        # first save through a tmp onto a new name
        save_bytes(tmp, b"fresh")
        os.replace(tmp, os.path.join(d, "other.pt"))
        eq(versions(d, "other.pt"), [1], "versions of a name created by rename")
        check_current(d, "other.pt", 1, b"fresh")


# ------------------------------------------------------------------ torn saves

_CHILD = r"""
import os, sys, time, io, torch
path, side, seed, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
g = torch.Generator().manual_seed(seed)
state = {"w": torch.randn(rows, 1024, generator=g), "b": torch.randn(4096, generator=g)}
buf = io.BytesIO()
torch.save(state, buf)
limit = len(buf.getvalue()) // 2
del buf

class Halfway:
    # passes torch.save's bytes to the file until half of them are written, then blocks
    def __init__(self):
        self.f = open(path, "wb", buffering=0)
        self.side = open(side, "wb")
        self.n = 0
    def _put(self, b):
        self.side.write(b)
        v = memoryview(b)
        while v:
            k = self.f.write(v)
            v = v[k:]
        self.n += len(b)
    def write(self, b):
        b = bytes(b)
        if self.n + len(b) >= limit:
            self._put(b[:limit - self.n])
            self.side.close()
            sys.stdout.write("half %d\n" % self.n)
            sys.stdout.flush()
            while True:
                time.sleep(60)
        self._put(b)
        return len(b)
    def flush(self):
        pass

torch.save(state, Halfway())
sys.stdout.write("finished\n")
"""


def _state(seed, rows):
    torch = torch_mod()
    g = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(rows, 1024, generator=g), "b": torch.randn(4096, generator=g)}


@test
def sigkill_mid_save_keeps_previous_epoch():
    skip_native()
    torch = torch_mod()
    rows = 16384                                 # 16384 x 1024 float32 = 64 MiB
    with Store() as s:
        d = ckpt_dir(s)
        path = os.path.join(d, "model.pt")
        epoch1 = _state(1, rows)
        torch.save(epoch1, path)
        good = read_all(path)
        eq(rec(path), (b"1", sha(good), b"true"), "record of epoch 1")
        side = os.path.join(s.base, "written-before-kill")       # outside the mount
        child = subprocess.Popen([PYTHON, "-c", _CHILD, path, side, "2", str(rows)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            r, _, _ = select.select([child.stdout], [], [], 60)
            line = child.stdout.readline() if r else b""
            check(line.startswith(b"half "), "child: expected 'half N' once half of the save was written, "
                  "saw %r (stderr: %s)" % (line, child.stderr.read1(4000) if child.poll() is not None else b""))
            half = int(line.split()[1])
            check(half > 16 * MiB, "child: expected more than 16 MiB written before blocking, saw %d" % half)
            # while the save is stuck half way, a new opener sees epoch 1
            same_bytes(read_all(path), good, "model.pt read while the save is stuck half way")
            os.kill(child.pid, signal.SIGKILL)
            child.wait(30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        eq(child.returncode, -signal.SIGKILL, "child exit status")
        torn = read_all(side)
        eq(len(torn), half, "bytes the child wrote before it was killed")
        wait_versions(d, "model.pt", [1, 2])
        check_version(d, "model.pt", 2, torn, complete=False, what="torn version 2")
        check_version(d, "model.pt", 1, good, what="epoch 1 after the torn save")
        check_current(d, "model.pt", 1, good, "model.pt after the torn save")
        same_state(tload(path), epoch1, "torch.load(model.pt) after the SIGKILL")
        # the next save is complete and becomes the name again
        epoch3 = _state(3, 256)
        torch.save(epoch3, path)
        eq(versions(d, "model.pt"), [1, 2, 3], "versions after the next save")
        after = read_all(path)
        check_current(d, "model.pt", 3, after, "model.pt after the next save")
        same_state(tload(path), epoch3, "torch.load(model.pt) after the next save")
        eq(os.getxattr(os.path.join(d, "model.pt@v2"), "user.aifs.complete"), b"false",
           "complete flag of the torn version after the next save")


@test
def torch_zip_truncated_or_inconsistent_is_incomplete():
    skip_native()
    torch = torch_mod()
    import io
    with Store() as s:
        d = ckpt_dir(s)
        p = os.path.join(d, "z.pt")
        buf = io.BytesIO()
        torch.save(_state(7, 64), buf)
        good = buf.getvalue()
        save_bytes(p, good)
        eq(os.getxattr(p, "user.aifs.complete"), b"true", "complete flag of a whole torch.save")
        eocd = good.rfind(b"PK\x05\x06")
        check(eocd > 0, "torch.save output: expected an end-of-central-directory record")
        # cut in half, cut short of the end, cut just before the end-of-central-directory record,
        # the middle missing (the record points past the end), a bare local header
        torn = [good[:len(good) // 2], good[:-10], good[:eocd], good[:len(good) // 2] + good[eocd:],
                b"PK\x03\x04" + bytes(100)]
        for i, t in enumerate(torn):
            save_bytes(p, t)
            n = i + 2
            eq(versions(d, "z.pt"), list(range(1, n + 1)), "versions after torn zip %d" % i)
            check_version(d, "z.pt", n, t, complete=False, what="torn zip %d (version %d)" % (i, n))
            check_current(d, "z.pt", 1, good, "z.pt after torn zip %d" % i)
        same_state(tload(p), _state(7, 64), "torch.load(z.pt) after the torn saves")
        # other formats are always complete, even when they look cut off
        for name, content in (("notes.txt", b"half a sentence wi"), ("blob.pt", data("blob", 5000)),
                              ("config.json", b'{"lr": 0.1, "steps": [1, 2'), ("empty-ish.pt", b"\0")):
            save_bytes(os.path.join(d, name), content)
            check_current(d, name, 1, content, name)
            check_version(d, name, 1, content, what="%s version 1" % name)


@test
def safetensors_torn_is_incomplete():
    skip_native()
    with Store() as s:
        d = ckpt_dir(s)
        p = os.path.join(d, "model.safetensors")
        good = safetensors_bytes({
            "embed.weight": ("F32", [256, 64], data("emb", 256 * 64 * 4)),
            "head.bias": ("F16", [64], data("bias", 128)),
            "steps": ("I64", [1], struct.pack("<q", 12345)),
        })
        save_bytes(p, good)
        check_current(d, "model.safetensors", 1, good, "a whole safetensors file")
        hlen = struct.unpack("<Q", good[:8])[0]
        over = bytearray(good)
        struct.pack_into("<Q", over, 0, len(good) + 100)            # header longer than the file
        torn = [good[:len(good) - 1000], good[:8 + hlen + 10], good[:8 + hlen], good[:20], bytes(over)]
        for i, t in enumerate(torn):
            save_bytes(p, t)
            n = i + 2
            eq(versions(d, "model.safetensors"), list(range(1, n + 1)), "versions after torn safetensors %d" % i)
            check_version(d, "model.safetensors", n, t, complete=False,
                          what="torn safetensors %d (version %d)" % (i, n))
            check_current(d, "model.safetensors", 1, good, "model.safetensors after torn save %d" % i)
        good2 = safetensors_bytes({"w": ("F32", [1000], data("w2", 4000))})
        save_bytes(p, good2)
        n = len(torn) + 2
        check_current(d, "model.safetensors", n, good2, "a second whole safetensors file")
        check_version(d, "model.safetensors", n, good2)


# ------------------------------------------------------------------ retention and space

def _prune_run(s, saves, keep, size, list_each):
    """SAVES saves of SIZE random bytes under keep_versions=KEEP; returns the hot usage added
    once pruned space had about 5 s to come back.  LIST_EACH: list and stat
    .aifs/versions/big.bin/* after every save, as someone watching the versions (ls -l) would."""
    d = ckpt_dir(s)
    p = os.path.join(d, "big.bin")
    base = hot_usage(s)
    contents = {}
    for i in range(1, saves + 1):
        contents[i] = os.urandom(size)
        save_bytes(p, contents[i])
        if list_each:
            vs = versions(d, "big.bin")
            eq(vs, list(range(max(1, i - keep + 1), i + 1)), "versions after save %d with keep_versions=%d" % (i, keep))
            for n in vs:
                os.stat(os.path.join(vdir(d, "big.bin"), str(n)))
    eq(versions(d, "big.bin"), list(range(saves - keep + 1, saves + 1)),
       "versions after %d saves with keep_versions=%d" % (saves, keep))
    for i in range(1, saves - keep + 1):
        raises(errno.ENOENT, os.stat, os.path.join(d, "big.bin@v%d" % i), what="stat pruned big.bin@v%d" % i)
    for i in range(saves - keep + 1, saves + 1):
        check_version(d, "big.bin", i, contents[i])
    check_current(d, "big.bin", saves, contents[saves])
    return wait_usage_at_most(s, base + int(4.25 * size), timeout=5.0) - base


def _check_pruned_usage(used, saves, keep, size, how):
    print("# %s: STORE/hot after %d saves of %d MiB, keep_versions=%d: %.1f MiB" % (
        how, saves, size // MiB, keep, used / MiB), flush=True)
    check(used <= int(4.25 * size), "STORE/hot usage 5 s after %d saves of %d MiB with keep_versions=%d (%s): "
          "expected at most %.1f MiB (%d-%d versions), saw %.1f MiB" % (
              saves, size // MiB, keep, how, 4.25 * size / MiB, keep, keep + 1, used / MiB))
    check(used >= keep * size, "STORE/hot usage: expected at least the %d kept versions (%d MiB), saw %.1f MiB" % (
        keep, keep * size // MiB, used / MiB))


@test
def keep_versions_prunes_and_gives_space_back():
    skip_native()
    with Store(opts="keep_versions=3") as s:
        used = _prune_run(s, 10, 3, 16 * MiB, list_each=False)
        _check_pruned_usage(used, 10, 3, 16 * MiB, "versions listed at the end")


@test
def pruned_versions_give_space_back_even_after_being_listed():
    skip_native()
    with Store(opts="keep_versions=3") as s:
        used = _prune_run(s, 8, 3, 16 * MiB, list_each=True)
        _check_pruned_usage(used, 8, 3, 16 * MiB, "versions listed after every save")


@test
def keep_versions_never_drops_newest_complete():
    skip_native()
    with Store(opts="keep_versions=2") as s:
        d = ckpt_dir(s)
        p = os.path.join(d, "m.safetensors")
        good = safetensors_bytes({"w": ("F32", [100], data("w", 400))})
        save_bytes(p, good)
        for i in range(4):
            save_bytes(p, good[:len(good) - 10 - i])
        vs = versions(d, "m.safetensors")
        check(1 in vs and 5 in vs, "versions with keep_versions=2 after 1 complete and 4 torn saves: expected "
              "1 (newest complete) and 5 (newest) among them, saw %s" % vs)
        check(len(vs) <= 3, "versions with keep_versions=2: expected at most 2 besides the newest complete, saw %s" % vs)
        check_version(d, "m.safetensors", 1, good, what="the newest complete version under pruning")
        check_current(d, "m.safetensors", 1, good, "m.safetensors after 4 torn saves with keep_versions=2")


@test
def committing_a_version_copies_no_data():
    skip_native()
    size = 64 * MiB
    with Store() as s:
        d = ckpt_dir(s)
        p = os.path.join(d, "big.pt")
        base = hot_usage(s)
        one = data("big1", size)
        save_bytes(p, one)
        time.sleep(1.5)
        used = hot_usage(s) - base
        check(size <= used <= size + 4 * MiB, "STORE/hot usage after one 64 MiB save into a checkpoint area: "
              "expected 64-68 MiB, saw %.1f MiB" % (used / MiB))
        # the tmp + rename pattern adds no data either
        t = os.path.join(d, "big.pt.tmp")
        two = data("big2", size)
        save_bytes(t, two)
        os.replace(t, p)
        time.sleep(1.5)
        used = hot_usage(s) - base
        check(2 * size <= used <= 2 * size + 8 * MiB, "STORE/hot usage after a second 64 MiB save through tmp + rename "
              "(two versions kept): expected 128-136 MiB, saw %.1f MiB" % (used / MiB))
        eq(versions(d, "big.pt"), [1, 2], "versions of big.pt")
        eq(os.getxattr(os.path.join(d, "big.pt@v1"), "user.aifs.sha256"), sha(one), "sha256 of version 1")
        eq(os.getxattr(p, "user.aifs.sha256"), sha(two), "sha256 of big.pt")


# ------------------------------------------------------------------ durability

@test
def versions_survive_remount_and_kill9():
    skip_native()
    with Store() as s:
        d = ckpt_dir(s)
        p = os.path.join(d, "m.safetensors")
        good = [safetensors_bytes({"w": ("F32", [n], data(("g", n), 4 * n))}) for n in (10, 2000, 30000)]
        torn = good[2][:-5]
        for c in good:
            save_bytes(p, c)
        save_bytes(p, torn)
        mine = os.path.join(s.mnt, "mine")
        os.mkdir(mine)
        os.setxattr(mine, "user.aifs.area", b"checkpoint")

        def check_all(what, hist):
            eq(versions(d, "m.safetensors"), list(range(1, len(hist) + 1)), "%s: versions" % what)
            newest_good = 0
            for n, (c, ok) in enumerate(hist, 1):
                check_version(d, "m.safetensors", n, c, complete=ok, what="%s: version %d" % (what, n))
                if ok:
                    newest_good = n
            check_current(d, "m.safetensors", newest_good, hist[newest_good - 1][0], what)
            eq(area(mine), b"checkpoint", "%s: user.aifs.area of a directory set to checkpoint" % what)

        hist = [(c, True) for c in good] + [(torn, False)]
        check_all("before remount", hist)
        s.remount()
        check_all("after remount", hist)
        # numbering continues after a remount
        v5 = data("v5", 100000)
        save_bytes(p, v5)
        hist.append((v5, True))
        check_all("after a save following the remount", hist)
        # a version whose close() returned survives kill -9 right after it
        v6 = data("v6", 3 * MiB + 7)
        save_bytes(p, v6)
        hist.append((v6, True))
        s.kill9()
        s.mount()
        check_all("after kill -9 and mount", hist)
        v7 = b"seven"
        save_bytes(p, v7)
        hist.append((v7, True))
        check_all("after a save following kill -9", hist)
        s.unmount()
        s.fsck_clean("fsck after remount and kill -9 with versions")


@test
def fsck_clean_after_versions():
    skip_native()
    torch = torch_mod()
    with Store(opts="keep_versions=4") as s:
        d = ckpt_dir(s)
        path, tmp = os.path.join(d, "model.pt"), os.path.join(d, "model.pt.tmp")
        for e in range(6):
            torch.save(_state(e, 64), path if e % 2 else tmp)
            if e % 2 == 0:
                os.replace(tmp, path)
        save_bytes(path, read_all(path)[:1000])        # a torn save (truncated zip)
        eq(os.getxattr(path, "user.aifs.complete"), b"true", "the name after a torn save")
        eq(versions(d, "model.pt"), [4, 5, 6, 7], "versions with keep_versions=4 after 7 sessions")
        eq(os.getxattr(os.path.join(d, "model.pt@v7"), "user.aifs.complete"), b"false", "torn version 7")
        for i in range(5):
            save_bytes(os.path.join(d, "gone.bin"), data(("gone", i), 200000))
        os.unlink(os.path.join(d, "gone.bin"))
        s.remount()
        eq(versions(d, "model.pt"), [4, 5, 6, 7], "versions after remount")
        same_state(tload(path), _state(5, 64), "torch.load(model.pt) after remount")
        s.unmount()
        s.fsck_clean("fsck after versions, renames, torn saves, pruning and an unlink")



def aifsctl(s, *args):
    r = subprocess.run([os.environ["AIFSCTL_BIN"]] + list(args), capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


@test
def dcp_directory_commits_when_metadata_lands():
    skip_native()
    with Store() as s:
        d = ckpt_dir(s)
        step = os.path.join(d, "step100")
        os.mkdir(step)
        shard1, meta1 = data("shard1", 300000), data("meta1", 999)
        write_file(os.path.join(step, "__0_0.distcp"), shard1)
        write_file(os.path.join(step, ".metadata.tmp"), meta1)
        eq(versions(d, "step100"), [], "directory versions of step100 before .metadata lands")
        os.rename(os.path.join(step, ".metadata.tmp"), os.path.join(step, ".metadata"))
        eq(versions(d, "step100"), [1], "directory versions of step100 once .metadata landed")
        v1 = os.path.join(vdir(d, "step100"), "1")
        eq(sorted(os.listdir(v1)), [".metadata", "__0_0.distcp"], "files of step100 version 1")
        same_bytes(read_all(os.path.join(v1, "__0_0.distcp")), shard1, "shard in step100 version 1")
        same_bytes(read_all(os.path.join(d, "step100@v1", ".metadata")), meta1, "metadata via step100@v1")
        raises(errno.EROFS, write_file, os.path.join(v1, "__0_0.distcp"), b"x", what="overwrite inside a version")
        # a second save into the same directory
        shard2 = data("shard2", 200000)
        write_file(os.path.join(step, "__0_0.distcp"), shard2)
        write_file(os.path.join(step, ".metadata.tmp"), data("meta2", 10))
        os.rename(os.path.join(step, ".metadata.tmp"), os.path.join(step, ".metadata"))
        eq(versions(d, "step100"), [1, 2], "directory versions after a second DCP save")
        same_bytes(read_all(os.path.join(v1, "__0_0.distcp")), shard1, "version 1 unchanged by the second save")
        same_bytes(read_all(os.path.join(vdir(d, "step100"), "2", "__0_0.distcp")), shard2, "version 2 shard")
        s.unmount()
        s.fsck_clean("fsck after DCP directory versions")


@test
def hf_trainer_state_commits_checkpoint_dir_and_partial_dirs_never_appear():
    skip_native()
    with Store() as s:
        d = ckpt_dir(s)
        done, partial = os.path.join(d, "checkpoint-500"), os.path.join(d, "checkpoint-1000")
        os.mkdir(done)
        os.mkdir(partial)
        model = safetensors_bytes({"w": ("F32", [64], data("w", 256))})
        for c in (done, partial):
            write_file(os.path.join(c, "model.safetensors"), model)
            write_file(os.path.join(c, "optimizer.pt"), data("opt", 5000))
        write_file(os.path.join(done, "trainer_state.json"), b'{"global_step": 500}')
        wait_versions(d, "checkpoint-500", [1])	# the commit may land at the release
        eq(versions(d, "checkpoint-1000"), [], "versions of the partial checkpoint-1000")
        eq(sorted(os.listdir(os.path.join(vdir(d, "checkpoint-500"), "1"))),
           ["model.safetensors", "optimizer.pt", "trainer_state.json"], "files of checkpoint-500 version 1")
        rc, out = aifsctl(s, "checkpoint", "commit", partial)
        eq(rc, 0, "aifsctl checkpoint commit exit status (%s)" % out.strip())
        eq(versions(d, "checkpoint-1000"), [1], "versions of checkpoint-1000 after aifsctl checkpoint commit")
        # removing the directory drops its versions
        for f in os.listdir(partial):
            os.unlink(os.path.join(partial, f))
        os.rmdir(partial)
        eq(versions(d, "checkpoint-1000"), [], "versions of a removed checkpoint directory")
        s.unmount()
        s.fsck_clean("fsck after directory versions and a removed checkpoint directory")


@test
def hold_restore_promote_and_directory_retention():
    skip_native()
    with Store() as s:
        d = ckpt_dir(s)
        p = os.path.join(d, "m.bin")
        contents = [data("m%d" % i, 20000 + i) for i in range(6)]
        for c in contents[:3]:
            save_bytes(p, c)
        rc, out = aifsctl(s, "hold", p + "@v1", "best")
        eq(rc, 0, "aifsctl hold exit status (%s)" % out.strip())
        eq(os.getxattr(p + "@v1", "user.aifs.holds"), b"best", "holds of m.bin@v1")
        raises(errno.EBUSY, os.unlink, p, what="unlink of a file with a held version")
        rc, out = aifsctl(s, "restore", p, "2")
        eq(rc, 0, "aifsctl restore exit status (%s)" % out.strip())
        check_current(d, "m.bin", 4, contents[1], "m.bin after restore of version 2")
        check_version(d, "m.bin", 4, contents[1])
        pub = os.path.join(s.mnt, "checkpoints", "published")
        os.mkdir(pub)
        # the kernel has cached the directory's listing and the miss of the
        # name: promote (made by aifs, not by a syscall) must still show
        eq(os.listdir(pub), [], "listing of the empty publish directory")
        check(not os.path.exists(os.path.join(pub, "m3.bin")), "m3.bin absent before promote")
        rc, out = aifsctl(s, "promote", p + "@v3", os.path.join(pub, "m3.bin"))
        eq(rc, 0, "aifsctl promote exit status (%s)" % out.strip())
        eq(os.listdir(pub), ["m3.bin"], "listing right after promote")
        same_bytes(read_all(os.path.join(pub, "m3.bin")), contents[2], "promoted version 3")
        rc, out = aifsctl(s, "retain", d, "--last", "2", "--every", "5")
        eq(rc, 0, "aifsctl retain exit status (%s)" % out.strip())
        for c in contents[3:]:
            save_bytes(p, c)
        # 7 versions: keep the last 2 (6, 7), every 5th (5), the held 1
        # when a save's close races the previous save's (asynchronous) release,
        # its commit lands at its own release: wait for it
        wait_versions(d, "m.bin", [1, 5, 6, 7])
        rc, out = aifsctl(s, "unhold", p + "@v1", "best")
        eq(rc, 0, "aifsctl unhold exit status (%s)" % out.strip())
        os.unlink(p)
        s.unmount()
        s.fsck_clean("fsck after holds, restore, promote and retention")

def write_pieces(fd, content, sizes=(1 << 20, 4096, 777777, 131072)):
    """Write CONTENT at the file offset of FD in pieces of the given sizes, in turn."""
    off, i = 0, 0
    while off < len(content):
        n = os.write(fd, content[off:off + sizes[i % len(sizes)]])
        off += n
        i += 1


@test
def big_saves_are_hashed_exactly_beside_the_writes():
    """Past its first 4 MiB a session's SHA-256 is taken on a thread of its
    own, from copies of the writes: the version's sha256 is still that of
    its bytes, after a truncate to 0 in the middle of a session, when the
    memory for queued writes fails, and for a file of a dataset area."""
    skip_native()
    with Store() as s:
        d = ckpt_dir(s, "big")
        p = os.path.join(d, "model.bin")
        big = [data(("big", i), (24 << 20) + i) for i in range(3)]
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        write_pieces(fd, big[0])
        os.close(fd)
        check_version(d, "model.bin", 1, big[0])
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        write_pieces(fd, big[1][:12 << 20])
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        write_pieces(fd, big[1])
        os.close(fd)
        check_version(d, "model.bin", 2, big[1])
        try:
            os.setxattr(s.mnt, "user.aifs.failpoints", b"vhash_queue:3+")
        except OSError as e:
            if e.errno == errno.EOPNOTSUPP:
                raise Skip("aifs built without fail points")
            raise
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        write_pieces(fd, big[2])
        os.close(fd)
        os.setxattr(s.mnt, "user.aifs.failpoints", b"")
        check_version(d, "model.bin", 3, big[2])
        q = os.path.join(s.mnt, "datasets", "big.bin")
        fd = os.open(q, os.O_WRONLY | os.O_CREAT, 0o644)
        write_pieces(fd, big[0])
        os.close(fd)
        eq(os.getxattr(q, "user.aifs.sha256"), sha(big[0]), "sha256 of a big dataset file")


@test
def reopen_for_writing_right_after_close_with_a_slow_release():
    """close() returns after FLUSH; the RELEASE that ends a session with two
    writers is sent afterwards, and a worker may be slow to handle it.  A
    reopen for writing must find the file, never the read-only version the
    name serves during the session."""
    skip_native()
    with Store() as s:
        d = ckpt_dir(s, "reopen")
        p = os.path.join(d, "f")
        write_file(p, b"first")      # version 1: what the name serves during a session
        try:
            os.setxattr(s.mnt, "user.aifs.failpoints", b"release_slow:1+")
        except OSError as e:
            if e.errno == errno.EOPNOTSUPP:
                raise Skip("aifs built without fail points")
            raise
        want = b""
        for i in range(5):
            fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
            fd2 = os.open(p, os.O_RDWR)
            want = (b"%d" % i) * 3000
            os.pwrite(fd, want, 0)
            os.close(fd2)
            os.close(fd)
            try:
                fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise Fail("round %d: reopen for writing right after close: %s" % (i, e))
            eq(os.pread(fd, len(want) + 1, 0), want, "round %d: content read through the reopened file" % i)
            os.close(fd)
        os.setxattr(s.mnt, "user.aifs.failpoints", b"")
        with open(p, "rb") as f:
            eq(f.read(), want, "content after the last close")


if __name__ == "__main__":
    main()
