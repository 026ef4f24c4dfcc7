#!/usr/bin/python3
"""The Python API (python/aifs, issue 23 part 4) through a real mount, with Debian's
/usr/bin/python3 and torch: every call gives what the matching aifsctl --json command
gives, failures raise AifsError (an OSError with the errno), aifs.torch.save returns the
version it committed and its SHA-256, and `make install` puts the package where
Debian's python3 finds it.  Every test is aifs-only.
"""

import errno
import hashlib
import json
import os
import site
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AIFSCTL_BIN, TOP, Fail, Store, check, eq, main, run,  # noqa: E402
                     run_as, skip_native, test)

PYDIR = os.path.join(TOP, "python")
sys.path.insert(0, PYDIR)
import aifs  # noqa: E402
import aifs.torch  # noqa: E402

PY = "/usr/bin/python3"
ENV = dict(os.environ, PYTHONPATH=PYDIR, PYTHONDONTWRITEBYTECODE="1")


def ctl_json(*args):
    rc, out = run([AIFSCTL_BIN] + list(args))
    if rc != 0:
        raise Fail("aifsctl %s: expected exit 0, saw %d: %s" % (" ".join(args), rc, out.strip()))
    return json.loads(out)


def aifs_error(err, fn, *args, **kw):
    """Call fn; require an AifsError (an OSError) with errno ERR and a message; return it."""
    try:
        fn(*args, **kw)
    except aifs.AifsError as e:
        check(isinstance(e, OSError), "AifsError: expected an OSError subclass")
        eq(errno.errorcode.get(e.errno), errno.errorcode[err], "%s: errno" % fn.__name__)
        check(e.strerror and e.filename, "%s: expected a message and a path, saw %r / %r" % (
            fn.__name__, e.strerror, e.filename))
        return e
    raise Fail("%s: expected AifsError %s, saw success" % (fn.__name__, errno.errorcode[err]))


def sha_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# A training loop that saves with aifs.torch.save and prints what each save returned.
TRAIN = r'''
import json, sys, torch
import aifs.torch
cfg = json.loads(sys.argv[1])
torch.manual_seed(0)
seen = 0
for f in cfg.get("read", []):
    seen += int(torch.load(f).sum().item() != 0)
model = torch.nn.Linear(4, 2)
out = []
for step in range(cfg["saves"]):
    with torch.no_grad():
        model.weight.add_(1.0)
    s = aifs.torch.save(model.state_dict(), cfg["ckpt"])
    out.append({"version": s.version, "sha256": s.sha256, "path": s.path})
print(json.dumps(out))
'''


def train(tmp, cfg, setsid=True):
    script = os.path.join(tmp, "train.py")
    with open(script, "w") as f:
        f.write(TRAIN)
    argv = (["setsid", "--wait"] if setsid else []) + [PY, script, json.dumps(cfg)]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, timeout=600)
    if p.returncode != 0:
        raise Fail("training job: expected exit 0, saw %d: %s" % (p.returncode, p.stderr.decode()[-2000:]))
    return json.loads(p.stdout.decode().strip().splitlines()[-1])


@test
def python_torch_save_returns_committed_version_and_sha():
    skip_native()
    with Store() as s, tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(s.mnt, "checkpoints", "run1")
        os.mkdir(d)
        ck = os.path.join(d, "model.pt")
        saved = train(tmp, {"saves": 3, "ckpt": ck})
        eq([x["version"] for x in saved], [1, 2, 3], "versions returned by aifs.torch.save")
        for x in saved:
            eq(x["path"], "%s@v%d" % (ck, x["version"]), "path returned")
            eq(x["sha256"], sha_of(x["path"]), "sha256 returned for v%d vs its content" % x["version"])
        check(len({x["sha256"] for x in saved}) == 3, "three different saves: expected 3 digests")
        # from this process too: the tuple unpacks, and a load gives what was saved
        import torch
        sd = {"w": torch.arange(6.0)}
        n, sha, path = aifs.torch.save(sd, ck)
        eq(n, 4, "version of a fourth save")
        eq(sha, os.getxattr(ck, "user.aifs.sha256").decode(), "sha256 vs user.aifs.sha256")
        eq(torch.load(path)["w"].tolist(), sd["w"].tolist(), "content of %s" % path)


@test
def python_versions_match_aifsctl_json():
    skip_native()
    with Store() as s, tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(s.mnt, "checkpoints", "run1")
        os.mkdir(d)
        ck = os.path.join(d, "model.pt")
        train(tmp, {"saves": 2, "ckpt": ck})
        vs = aifs.versions(ck)
        j = ctl_json("versions", "--json", ck)
        eq([v.asdict() for v in vs], j["versions"], "aifs.versions vs aifsctl versions --json")
        eq(aifs.current(ck), j["current"], "aifs.current vs aifsctl")
        eq([v.current for v in vs], [False, True], "current flags")
        eq(vs[0].path, os.path.join(d, ".aifs", "versions", "model.pt", "1"), "path of v1")
        check(all(v.complete and v.writer_pid for v in vs), "expected complete versions with a writer pid")


@test
def python_restore_returns_new_version_and_refuses_missing():
    skip_native()
    with Store() as s, tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(s.mnt, "checkpoints", "run1")
        os.mkdir(d)
        ck = os.path.join(d, "model.pt")
        saved = train(tmp, {"saves": 2, "ckpt": ck})
        eq(aifs.restore(ck, 1), 3, "aifs.restore(model.pt, 1): new version")
        eq(sha_of(ck), saved[0]["sha256"], "content after restore of v1")
        e = aifs_error(errno.ENOENT, aifs.restore, ck, 9)
        check("no such version" in e.strerror, "message of restore 9: saw %r" % e.strerror)
        plain = os.path.join(s.mnt, "scratch.bin")
        with open(plain, "wb") as f:
            f.write(b"x")
        aifs_error(errno.ENOENT, aifs.versions, plain)
        aifs_error(errno.ENOENT, aifs.restore, plain, 1)


@test
def python_snapshot_manifest_diff_match_aifsctl():
    skip_native()
    with Store() as s:
        ds = os.path.join(s.mnt, "datasets", "ds1")
        os.makedirs(os.path.join(ds, "sub"))
        for name, body in (("a.txt", b"alpha"), ("b.txt", b"beta"), ("sub/c.txt", b"gamma")):
            with open(os.path.join(ds, name), "wb") as f:
                f.write(body)
        p = aifs.snapshot(ds, "v1")
        eq(p, os.path.join(ds, ".aifs", "snapshots", "v1"), "path of snapshot v1")
        with open(os.path.join(ds, "a.txt"), "ab") as f:
            f.write(b"!")
        os.unlink(os.path.join(ds, "b.txt"))
        with open(os.path.join(ds, "sub", "d.txt"), "wb") as f:
            f.write(b"delta")
        aifs.snapshot(ds, "v2")
        eq(aifs.snapshots(ds), ["v1", "v2"], "aifs.snapshots")
        d = aifs.diff(ds, "v1", "v2")
        eq(d, [{"change": "changed", "path": "a.txt"}, {"change": "removed", "path": "b.txt"},
               {"change": "added", "path": "sub/d.txt"}], "aifs.diff v1 v2")
        eq(d, ctl_json("snapshot", "diff", "--json", ds, "v1", "v2"), "aifs.diff vs aifsctl")
        eq(aifs.diff(ds, "v2", "live"), [], "aifs.diff v2 live")
        rc, out = run([AIFSCTL_BIN, "snapshot", "manifest", ds, "v1"])
        eq(aifs.manifest(ds, "v1"), [json.loads(line) for line in out.splitlines()],
           "aifs.manifest vs aifsctl snapshot manifest")
        aifs_error(errno.EEXIST, aifs.snapshot, ds, "v1")
        aifs_error(errno.EPERM, aifs.snapshot, os.path.join(s.mnt, "checkpoints"), "t")
        aifs.snapshot_delete(ds, "v1")
        eq(aifs.snapshots(ds), ["v2"], "snapshots after delete")
        aifs_error(errno.ENOENT, aifs.diff, ds, "v1", "v2")


@test
def python_lineage_matches_aifsctl_json():
    skip_native()
    with Store() as s, tempfile.TemporaryDirectory() as tmp:
        import torch
        ds = os.path.join(s.mnt, "datasets", "ds1")
        os.mkdir(ds)
        for i in range(3):
            torch.save(torch.ones(4) * (i + 1), os.path.join(ds, "t%d.pt" % i))
        snap = aifs.snapshot(ds, "v1")
        d = os.path.join(s.mnt, "checkpoints", "run1")
        os.mkdir(d)
        ck = os.path.join(d, "model.pt")
        train(tmp, {"saves": 1, "ckpt": ck,
                    "read": [os.path.join(snap, "t%d.pt" % i) for i in range(3)]})
        lin = aifs.lineage(ck)
        eq(lin, ctl_json("lineage", "--json", ck), "aifs.lineage vs aifsctl lineage --json")
        eq([(x["kind"], x.get("snapshot")) for x in lin["sources"]], [("snapshot", "v1")],
           "sources of model.pt")
        eq(lin["version"]["number"], 1, "lineage version number")
        aifs_error(errno.ENODATA, aifs.lineage, ds)


@test
def python_hold_keeps_version_until_unhold():
    skip_native()
    with Store() as s, tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(s.mnt, "checkpoints", "run1")
        os.mkdir(d)
        ck = os.path.join(d, "model.pt")
        train(tmp, {"saves": 2, "ckpt": ck})
        eq(aifs.hold(ck, "paper"), aifs.version_path(ck, 2), "hold of the current version")
        aifs.hold(ck + "@v1", "eval")
        aifs.hold(ck, "eval", n=2)
        eq(aifs.holds(ck, n=1), ["eval"], "holds of v1")
        eq(sorted(aifs.holds(ck + "@v2")), ["eval", "paper"], "holds of v2")
        try:
            os.unlink(ck)
            raise Fail("unlink of a file with held versions: expected EBUSY, saw success")
        except OSError as e:
            eq(errno.errorcode.get(e.errno), "EBUSY", "unlink of a held file")
        for n, tags in ((1, ["eval"]), (2, ["eval", "paper"])):
            for t in tags:
                aifs.unhold(ck, t, n=n)
        eq(aifs.holds(ck), [], "holds after unhold")
        aifs_error(errno.EINVAL, aifs.hold, ck + "@v1", "")
        os.unlink(ck)


@test
def python_errors_and_unprivileged_use():
    skip_native()
    with Store() as s, tempfile.TemporaryDirectory() as tmp:
        import torch
        d = os.path.join(s.mnt, "checkpoints", "run1")
        os.mkdir(d)
        ck = os.path.join(d, "model.pt")
        train(tmp, {"saves": 2, "ckpt": ck})
        e = aifs_error(errno.EINVAL, aifs.torch.save, {"w": torch.ones(1)},
                       os.path.join(s.mnt, "notes.pt"))
        check("checkpoint area" in e.strerror, "message: saw %r" % e.strerror)
        err = _errno_of(aifs.area, tmp)
        check(err in (errno.ENODATA, errno.EOPNOTSUPP), "aifs.area of %s (not aifs): expected "
              "ENODATA or EOPNOTSUPP, saw %s" % (tmp, errno.errorcode.get(err, err)))
        # a user who can read the file lists its versions; restoring needs more
        seen = run_as(65534, 65534, lambda: [(v.version, v.sha256) for v in aifs.versions(ck)])
        eq(seen, [(v.version, v.sha256) for v in aifs.versions(ck)], "versions as nobody")
        err = run_as(65534, 65534, lambda: _errno_of(aifs.restore, ck, 1))
        check(err in (errno.EACCES, errno.EPERM), "restore as nobody: expected EACCES or EPERM, "
              "saw %s" % errno.errorcode.get(err, err))


def _errno_of(fn, *args):
    try:
        fn(*args)
    except aifs.AifsError as e:
        return e.errno
    return 0


@test
def python_copy_shares_data():
    skip_native()
    with Store() as s:
        ds = os.path.join(s.mnt, "datasets", "d")
        os.mkdir(ds)
        src, dst = os.path.join(ds, "a.bin"), os.path.join(ds, "b.bin")
        content = os.urandom(6 << 20)
        with open(src, "wb") as f:
            f.write(content)
            os.fsync(f.fileno())
        os.sync()
        before = s.usage()
        eq(aifs.copy(src, dst), len(content), "aifs.copy: bytes")
        os.sync()
        check(s.usage() - before < (1 << 20), "aifs.copy: store grew by %d bytes for %d: expected "
              "shared data" % (s.usage() - before, len(content)))
        eq(sha_of(dst), hashlib.sha256(content).hexdigest(), "content of the copy")
        aifs_error(errno.ENOENT, aifs.copy, os.path.join(ds, "missing"), dst)


@test
def python_make_install_puts_package_where_python3_finds_it():
    skip_native()
    build = os.path.dirname(os.environ.get("AIFS_BIN") or os.path.join(TOP, "build", "aifs"))
    with tempfile.TemporaryDirectory() as dest:
        rc, out = run(["meson", "install", "-C", build, "--no-rebuild", "--destdir", dest,
                       "--quiet"], timeout=600)
        eq(rc, 0, "meson install --destdir (what make install runs): %s" % out.strip()[-500:])
        found = [root for root, dirs, files in os.walk(dest)
                 if os.path.basename(root) == "aifs" and "__init__.py" in files]
        eq(len(found), 1, "installed aifs packages under %s" % dest)
        sitedir = os.path.dirname(found[0])
        prefix_site = "/" + os.path.relpath(sitedir, dest)
        rc, out = run([PY, "-c", "import site, sys; print('\\n'.join(site.getsitepackages()))"])
        check(prefix_site in out.split(), "installed into %s: expected one of Debian python3's "
              "site directories: %s" % (prefix_site, out.split()))
        check(os.path.isfile(os.path.join(found[0], "torch.py")), "aifs/torch.py installed")
        env = dict(os.environ, PYTHONPATH=sitedir, PYTHONDONTWRITEBYTECODE="1")
        rc, out = run([PY, "-c", "import aifs, aifs.torch; print(aifs.__file__)"], env=env)
        eq((rc, out.strip()), (0, os.path.join(found[0], "__init__.py")), "import of the installed aifs")
        check(os.stat(os.path.join(found[0], "__init__.py")).st_mode & 0o004,
              "installed package readable by every user")


if __name__ == "__main__":
    main()
