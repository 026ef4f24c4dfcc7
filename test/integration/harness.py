"""Integration test harness for aifs: mount a fresh store, run tests, report.

Every test file imports this module, registers functions with @test and ends
with main().  Output is one line per test, "ok NAME" or "not ok NAME: why",
which test/run.sh counts.  No third-party modules.

Environment:
  AIFS_BIN, AIFSCTL_BIN  the binaries under test (default: build/ of AIFS_TOP)
  AIFS_TOP               the source tree
  AIFS_TEST_NATIVE=1     run the POSIX expectations against a plain directory
                         on the local disk instead of an aifs mount; tests of
                         aifs-only behaviour skip themselves in this mode only.
  AIFS_KEEP=1            keep the temporary directory of a failed test.
"""

import ctypes
import errno
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

NATIVE = os.environ.get("AIFS_TEST_NATIVE") == "1"
# AIFS_TEST_USER=UID: the tests' file operations run with this effective
# uid and gid (the mount is made as root, with allow_other, its root 01777);
# tests of what only root may do skip themselves in this mode only.
TEST_USER = int(os.environ["AIFS_TEST_USER"]) if os.environ.get("AIFS_TEST_USER") else None
TOP = os.environ.get("AIFS_TOP") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AIFS_BIN = os.environ.get("AIFS_BIN") or os.path.join(TOP, "build", "aifs")
AIFSCTL_BIN = os.environ.get("AIFSCTL_BIN") or os.path.join(TOP, "build", "aifsctl")

MOUNT_TIMEOUT = 30.0
EXIT_TIMEOUT = 30.0


# ---------------------------------------------------------------- assertions

class Fail(AssertionError):
    """A test expectation that did not hold; the message says expected/saw."""


class Skip(Exception):
    """The test does not apply in this mode."""


def fail(msg):
    raise Fail(msg)


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def eq(seen, expected, what):
    if seen != expected:
        raise Fail("%s: expected %s, saw %s" % (what, _short(expected), _short(seen)))


def _short(v):
    r = repr(v)
    return r if len(r) <= 200 else r[:200] + "...(%d chars)" % len(r)


def errname(e):
    return errno.errorcode.get(e, str(e)) if e is not None else "success"


def raises(err, fn, *args, what=None, **kw):
    """Call fn and require it to fail with OSError errno err (or one of a tuple)."""
    errs = err if isinstance(err, tuple) else (err,)
    what = what or getattr(fn, "__name__", "call")
    try:
        fn(*args, **kw)
    except OSError as e:
        if e.errno not in errs:
            raise Fail("%s: expected %s, saw %s (%s)" % (
                what, "/".join(errname(x) for x in errs), errname(e.errno), e))
        return e
    raise Fail("%s: expected %s, saw success" % (
        what, "/".join(errname(x) for x in errs)))


def same_bytes(seen, expected, what, base=0):
    """Compare two byte strings and report the first differing offset."""
    if seen == expected:
        return
    n = min(len(seen), len(expected))
    i = next((k for k in range(n) if seen[k] != expected[k]), n)
    if i < n:
        raise Fail("%s: first difference at offset %d: expected byte 0x%02x, saw 0x%02x "
                   "(expected length %d, saw %d)" % (what, base + i, expected[i], seen[i],
                                                       len(expected), len(seen)))
    raise Fail("%s: expected length %d, saw %d (common prefix equal)" % (
        what, len(expected), len(seen)))


def skip_native():
    if NATIVE:
        raise Skip("native")


def root_only():
    """The test checks what root may do: skipped when run as AIFS_TEST_USER."""
    if TEST_USER is not None:
        raise Skip("needs root (run as uid %d)" % TEST_USER)


def become_test_user():
    os.setegid(TEST_USER)
    os.seteuid(TEST_USER)


def drop_caches(level=3):
    """Drop the kernel's caches (as root, also in AIFS_TEST_USER mode)."""
    euid = os.geteuid()
    become_root()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("%d\n" % level)
    finally:
        if euid != os.getuid():
            become_test_user()


def become_root():
    if os.geteuid() != os.getuid():
        os.seteuid(os.getuid())
        os.setegid(os.getgid())


# ------------------------------------------------------------------ data

def data(seed, length):
    """Deterministic pseudo-random bytes from a seed (any hashable value)."""
    return random.Random(str(seed)).randbytes(length)


def read_all(path):
    with open(path, "rb") as f:
        return f.read()


def write_file(path, content, mode=0o644, sync=False):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(content)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(path, content, mode=0o644):
    """write_file, and fsync before the close."""
    write_file(path, content, mode, sync=True)


def pread_all(fd, length, offset):
    out = bytearray()
    while len(out) < length:
        b = os.pread(fd, length - len(out), offset + len(out))
        if not b:
            break
        out += b
    return bytes(out)


def pwrite_all(fd, buf, offset):
    view = memoryview(buf)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


# ------------------------------------------------------------------ mounts

def mounted(path):
    """True when path is a mount point in /proc/self/mountinfo (works on dead FUSE mounts)."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path:
                return True
    return False


def run(argv, timeout=120, env=None, input=None):
    """Run a command; return (rc, combined stdout+stderr)."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout, env=env, input=input)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def force_unmount(path):
    """Unmount path: umount, retry while busy, then umount -l as last resort."""
    for _ in range(20):
        if not mounted(path):
            return
        rc, _ = run(["umount", path], timeout=60)
        if rc == 0 and not mounted(path):
            return
        time.sleep(0.25)
    run(["umount", "-l", path], timeout=60)
    if mounted(path):
        run(["fusermount3", "-u", "-z", path], timeout=60)


class Store:
    """A fresh aifs store in a temporary directory, mounted at self.mnt.

    with Store() as s: mkfs, mount (-f -o allow_other), and on exit unmount
    (even when the test fails), wait for the daemon, and remove the directory.
    In native mode self.mnt is a plain directory and the store calls are no-ops.
    """

    def __init__(self, opts="", mkfs=True, mount=True):
        self.base = tempfile.mkdtemp(prefix="aifs-it-")
        os.chmod(self.base, 0o755)
        self.store = os.path.join(self.base, "store")
        self.mnt = os.path.join(self.base, "mnt")
        self.log = os.path.join(self.base, "aifs.log")
        os.mkdir(self.mnt)
        os.chmod(self.mnt, 0o755)
        self.opts = opts
        self.proc = None
        self._do_mkfs = mkfs
        self._do_mount = mount
        self.mounts = 0

    # -- lifecycle
    def __enter__(self):
        try:
            if self._do_mkfs:
                self.mkfs()
            if self._do_mount:
                self.mount()
        except BaseException:
            self.cleanup(failed=True)
            raise
        return self

    def __exit__(self, etype, evalue, tb):
        err = self.cleanup(failed=etype is not None)
        if err and etype is None:
            raise Fail(err)
        return False

    def cleanup(self, failed=False):
        """Unmount, wait for the daemon, remove the directory. Returns an error text or None."""
        err = None
        self.close_leaked_fds()
        try:
            err = self.unmount(check=False)
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if not mounted(self.mnt):
                if failed and os.environ.get("AIFS_KEEP") == "1":
                    print("# kept %s" % self.base, flush=True)
                else:
                    shutil.rmtree(self.base, ignore_errors=True)
            else:
                err = (err or "") + " mount point %s still mounted" % self.mnt
        return err

    def close_leaked_fds(self):
        """Close descriptors a failed test left open inside the mount, so it can unmount."""
        prefix = os.path.realpath(self.mnt) + "/"
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink("/proc/self/fd/" + fd)
            except OSError:
                continue
            if target.startswith(prefix) or target == prefix[:-1]:
                try:
                    os.close(int(fd))
                except OSError:
                    pass

    def mkfs(self):
        if NATIVE:
            os.makedirs(self.store, exist_ok=True)
            return
        rc, out = run([AIFSCTL_BIN, "mkfs", self.store])
        if rc != 0:
            raise Fail("aifsctl mkfs %s: expected exit 0, saw %d: %s" % (self.store, rc, out.strip()))

    def mount(self, opts=None):
        """Mount in the foreground as a child process and wait until it is mounted."""
        if opts is not None:
            self.opts = opts
        self.mounts += 1
        if NATIVE:
            return
        o = "allow_other" + ("," + self.opts if self.opts else "")
        logf = open(self.log, "ab")
        logf.write(b"=== mount %d: -o %s\n" % (self.mounts, o.encode()))
        logf.flush()
        self.proc = subprocess.Popen([AIFS_BIN, self.store, self.mnt, "-f", "-o", o],
                                     stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        logf.close()
        deadline = time.time() + MOUNT_TIMEOUT
        while time.time() < deadline:
            if mounted(self.mnt) and os.path.ismount(self.mnt):
                if TEST_USER is not None:
                    os.chmod(self.mnt, 0o1777)
                    become_test_user()
                return
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                raise Fail("aifs %s %s -f: expected a mount, saw exit %d: %s" % (
                    self.store, self.mnt, rc, self.log_tail()))
            time.sleep(0.02)
        raise Fail("aifs: expected a mount within %ds, saw none: %s" % (MOUNT_TIMEOUT, self.log_tail()))

    def unmount(self, check=True):
        """Unmount and wait for the daemon to exit. Returns an error text (or raises if check)."""
        if NATIVE:
            return None
        become_root()
        err = None
        if mounted(self.mnt):
            rc, out = run(["umount", self.mnt], timeout=60)
            if rc != 0:
                err = "umount %s: expected exit 0, saw %d: %s" % (self.mnt, rc, out.strip())
                force_unmount(self.mnt)
        if self.proc is not None:
            try:
                rc = self.proc.wait(EXIT_TIMEOUT)
                if rc != 0 and err is None:
                    err = "aifs daemon: expected exit 0 after unmount, saw %d: %s" % (rc, self.log_tail())
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                err = err or "aifs daemon: expected exit within %ds of unmount, saw it still running" % EXIT_TIMEOUT
            self.proc = None
        if err and check:
            raise Fail(err)
        return err

    def remount(self, opts=None):
        if NATIVE:
            os.sync()
            return
        self.unmount()
        self.mount(opts)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def kill9(self):
        """SIGKILL the daemon, then lazily unmount the dead mount."""
        skip_native()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        rc, _ = run(["fusermount3", "-u", "-z", self.mnt], timeout=60)
        if mounted(self.mnt):
            run(["umount", "-l", self.mnt], timeout=60)
        check(not mounted(self.mnt), "after kill -9 and umount -l: expected %s unmounted" % self.mnt)

    def fsck(self, repair=False):
        """Run aifsctl fsck on the (unmounted) store; returns (rc, output)."""
        if NATIVE:
            return 0, "native: clean\n"
        argv = [AIFSCTL_BIN, "fsck"] + (["--repair"] if repair else []) + [self.store]
        return run(argv, timeout=600)

    def fsck_clean(self, what="fsck"):
        rc, out = self.fsck()
        lines = out.strip().splitlines()
        if rc != 0 or not lines or "clean" not in lines[-1]:
            raise Fail("%s: expected exit 0 and a final line with 'clean', saw exit %d: %s" % (
                what, rc, out.strip()[-2000:]))

    def usage(self):
        """Bytes the store occupies on its disk (allocated blocks of every file under it)."""
        euid = os.geteuid()
        become_root()
        try:
            return self._usage()
        finally:
            if euid != os.getuid():
                become_test_user()

    def _usage(self):
        total = 0
        for dirpath, _, files in os.walk(self.store):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
                except FileNotFoundError:
                    pass
        return total

    def log_tail(self, n=20):
        try:
            with open(self.log, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return " | ".join(lines[-n:])
        except OSError:
            return "(no log)"

    def work(self, name="t", mode=0o755):
        """A fresh directory inside the mount to work in (the root may hold other entries)."""
        p = os.path.join(self.mnt, name)
        os.mkdir(p)
        os.chmod(p, mode)
        return p


# ------------------------------------------------------------------ users

def run_as(uid, gid, fn, *args, groups=()):
    """Run fn(*args) in a child with the given uid/gid and supplementary groups.

    Returns fn's (picklable) result; an exception in the child is raised here:
    an OSError keeps its errno, anything else becomes Fail with the child's text.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
            res = ("ok", fn(*args))
        except OSError as e:
            res = ("oserror", (e.errno, str(e)))
        except BaseException as e:
            res = ("error", "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc()))
        try:
            payload = pickle.dumps(res)
        except Exception as e:
            payload = pickle.dumps(("error", "unpicklable result: %s" % e))
        os.write(w, payload)
        os.close(w)
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        raise Fail("run_as(%d): child died without a result (status %d)" % (uid, status))
    kind, val = pickle.loads(b"".join(chunks))
    if kind == "ok":
        return val
    if kind == "oserror":
        raise OSError(val[0], "as uid %d: %s" % (uid, val[1]))
    raise Fail("as uid %d: %s" % (uid, val))


# ------------------------------------------------------------------ libc

libc = ctypes.CDLL(None, use_errno=True)

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2
AT_FDCWD = -100
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2

libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
libc.getxattr.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
libc.getxattr.restype = ctypes.c_ssize_t
libc.listxattr.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
libc.listxattr.restype = ctypes.c_ssize_t


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


libc.utimensat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(Timespec), ctypes.c_int]


def _oserr(what):
    e = ctypes.get_errno()
    raise OSError(e, "%s: %s" % (what, os.strerror(e)))


def renameat2(old, new, flags):
    if libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags) != 0:
        _oserr("renameat2")


def fallocate(fd, mode, offset, length):
    if libc.fallocate(fd, mode, offset, length) != 0:
        _oserr("fallocate")


def utimensat(path, atime, mtime):
    """atime/mtime: (sec, nsec) or UTIME_NOW / UTIME_OMIT."""
    def ts(v):
        return Timespec(0, v) if isinstance(v, int) else Timespec(v[0], v[1])
    arr = (Timespec * 2)(ts(atime), ts(mtime))
    if libc.utimensat(AT_FDCWD, os.fsencode(path), arr, 0) != 0:
        _oserr("utimensat")


def getxattr_raw(path, name, size):
    buf = ctypes.create_string_buffer(max(size, 1))
    n = libc.getxattr(os.fsencode(path), os.fsencode(name), buf if size else None, size)
    if n < 0:
        _oserr("getxattr")
    return n, buf.raw[:n] if size else b""


def listxattr_raw(path, size):
    buf = ctypes.create_string_buffer(max(size, 1))
    n = libc.listxattr(os.fsencode(path), buf if size else None, size)
    if n < 0:
        _oserr("listxattr")
    return n


# ------------------------------------------------------------------ registry

_tests = []


def test(fn):
    """Register a test; its name is the function's name (the behaviour it proves)."""
    _tests.append((fn.__name__, fn))
    return fn


def main():
    """Run the registered tests in order (or those named on the command line)."""
    os.umask(0o022)
    only = set(sys.argv[1:])
    failed = 0
    start = time.time()
    print("# mode: %s" % ("native (plain directory)" if NATIVE else "aifs %s" % AIFS_BIN), flush=True)
    for name, fn in _tests:
        if only and name not in only:
            continue
        t0 = time.time()
        try:
            fn()
        except Skip as s:
            print("ok %s # skip %s" % (name, s), flush=True)
            continue
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            failed += 1
            msg = str(e).replace("\n", " ") if isinstance(e, Fail) else "%s: %s" % (type(e).__name__, e)
            print("not ok %s: %s" % (name, msg), flush=True)
            traceback.print_exc(file=sys.stdout)
            print("# %s: %.1fs" % (name, time.time() - t0), flush=True)
            continue
        print("ok %s" % name, flush=True)
        print("# %s: %.1fs" % (name, time.time() - t0), flush=True)
    print("# %s: %d failed, %.1fs" % (os.path.basename(sys.argv[0]), failed, time.time() - start), flush=True)
    sys.exit(1 if failed else 0)
