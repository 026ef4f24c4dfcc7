"""A one-node Ceph cluster for tests: one ceph-mon and one memstore ceph-osd on 127.0.0.1.

    with Cluster() as c:       # everything lives under a fresh temporary directory
        c.conf                 # its ceph.conf, for ceph_conf= and the ceph/rados CLIs
        c.pool                 # a replicated pool of size 1, ready for writes
        c.rados("ls", ...)     # the rados CLI on the pool
        c.pause_osd(); c.resume_osd()   # SIGSTOP / SIGCONT: an unreachable OSD

Stop order is OSD then mon (the other order takes seconds), by pid, also when the
test fails (the context manager, and an atexit hook for a killed test script).
No systemd, no mgr: every ceph CLI call runs under a timeout because mgr-only
commands would wait forever.
"""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

CLI_TIMEOUT = 30
START_TIMEOUT = 60.0


class CephError(Exception):
    pass


def _free_port_pair():
    """A port P with P and P+1 free on 127.0.0.1 (msgr v2 and v1)."""
    for _ in range(50):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if p >= 65535:
            continue
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
        finally:
            t.close()
    raise CephError("no free port pair on 127.0.0.1")


CONF = """[global]
fsid = {fsid}
mon host = [v2:127.0.0.1:{port},v1:127.0.0.1:{port1}]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv4 = true
ms bind ipv6 = false
keyring = {dir}/keyring
run dir = {dir}/run
admin socket = {dir}/$name.asok
pid file = {dir}/$name.pid
log file = {dir}/$name.log
crash dir = {dir}/crash
mon data = {dir}/mon-$id
osd data = {dir}/osd-$id
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on pool no app = false
mon data avail warn = 1
mon data avail crit = 0
paxos propose interval = 0.1
mon mgr mkfs grace = 31536000

[osd]
osd objectstore = memstore
memstore device bytes = {memstore}
osd op num shards = 1
osd op num threads per shard = 2
"""

_live = []


def _stop_all():
    for c in list(_live):
        c.stop()


atexit.register(_stop_all)


class Cluster:
    def __init__(self, pool="aifs", memstore_bytes=2 << 30, dir=None):
        """MEMSTORE_BYTES: what the OSD holds (in RAM); DIR: where the temporary directory goes."""
        self.dir = tempfile.mkdtemp(prefix="aifs-ceph-", dir=dir)
        self.memstore = memstore_bytes
        self.conf = os.path.join(self.dir, "ceph.conf")
        self.pool = pool
        self.mon = None
        self.osd = None
        self.osd_uuid = None

    # -- helpers
    def ceph(self, *args, timeout=CLI_TIMEOUT, check=True):
        return self._run(["ceph", "-c", self.conf] + list(args), timeout, check)

    def rados(self, *args, timeout=CLI_TIMEOUT, check=True, input=None):
        return self._run(["rados", "-c", self.conf, "-p", self.pool] + list(args), timeout,
                         check, input=input)

    def _run(self, argv, timeout, check, input=None):
        try:
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout, input=input)
        except subprocess.TimeoutExpired:
            raise CephError("%s: no answer within %ds" % (" ".join(argv), timeout))
        if check and p.returncode != 0:
            raise CephError("%s: exit %d: %s" % (" ".join(argv), p.returncode,
                                                 p.stderr.decode(errors="replace").strip()))
        return p.stdout.decode(errors="replace")

    def _spawn(self, argv):
        log = open(os.path.join(self.dir, os.path.basename(argv[0]) + ".out"), "ab")
        try:
            return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()

    # -- lifecycle
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        _live.append(self)
        with open("/proc/sys/kernel/random/uuid") as f:
            fsid = f.read().strip()
        port = _free_port_pair()
        os.makedirs(os.path.join(self.dir, "run"))
        os.makedirs(os.path.join(self.dir, "crash"))
        os.makedirs(os.path.join(self.dir, "osd-0"))
        with open(self.conf, "w") as f:
            f.write(CONF.format(fsid=fsid, port=port, port1=port + 1, dir=self.dir,
                               memstore=self.memstore))
        kr = os.path.join(self.dir, "keyring")
        auth = ["ceph-authtool", kr]
        self._run(auth[:1] + ["--create-keyring", kr, "--gen-key", "-n", "mon.",
                              "--cap", "mon", "allow *"], CLI_TIMEOUT, True)
        self._run(auth + ["--gen-key", "-n", "client.admin", "--cap", "mon", "allow *",
                          "--cap", "osd", "allow *", "--cap", "mgr", "allow *",
                          "--cap", "mds", "allow *"], CLI_TIMEOUT, True)
        self._run(auth + ["--gen-key", "-n", "osd.0", "--cap", "mon", "allow profile osd",
                          "--cap", "osd", "allow *", "--cap", "mgr", "allow profile osd"],
                  CLI_TIMEOUT, True)
        monmap = os.path.join(self.dir, "monmap")
        self._run(["monmaptool", "--create", "--fsid", fsid, "--addv", "a",
                   "[v2:127.0.0.1:%d,v1:127.0.0.1:%d]" % (port, port + 1), monmap],
                  CLI_TIMEOUT, True)
        self._run(["ceph-mon", "-c", self.conf, "--mkfs", "-i", "a", "--monmap", monmap,
                   "--keyring", kr], CLI_TIMEOUT, True)
        self.mon = self._spawn(["ceph-mon", "-c", self.conf, "-i", "a", "-f"])
        with open("/proc/sys/kernel/random/uuid") as f:
            self.osd_uuid = f.read().strip()
        osd_id = self.ceph("osd", "new", self.osd_uuid).strip()
        if osd_id != "0":
            raise CephError("ceph osd new: expected id 0, saw %r" % osd_id)
        self._run(["ceph-osd", "-c", self.conf, "-i", "0", "--mkfs", "--osd-uuid",
                   self.osd_uuid], CLI_TIMEOUT, True)
        self.osd = self._spawn(["ceph-osd", "-c", self.conf, "-i", "0", "-f"])
        self.ceph("osd", "pool", "create", self.pool, "8", "8", "replicated")
        self.ceph("osd", "pool", "application", "enable", self.pool, "rados")
        self.wait_writable()

    def wait_writable(self):
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            if " up " in self.ceph("osd", "dump", timeout=10, check=False).replace(
                    "osd.0 up", " up "):
                break
            time.sleep(0.1)
        while time.time() < deadline:
            try:
                self.rados("put", "aifs-probe", "/dev/null", timeout=10)
                self.rados("rm", "aifs-probe", timeout=10)
                return
            except CephError:
                time.sleep(0.1)
        raise CephError("cluster in %s not writable within %ds" % (self.dir, START_TIMEOUT))

    def pause_osd(self):
        os.kill(self.osd.pid, signal.SIGSTOP)

    def resume_osd(self):
        os.kill(self.osd.pid, signal.SIGCONT)

    def stop(self):
        if self.osd is not None:
            try:
                os.kill(self.osd.pid, signal.SIGCONT)
            except OSError:
                pass
        _stop(self.osd)
        _stop(self.mon)
        self.osd = self.mon = None
        if self in _live:
            _live.remove(self)
        if os.environ.get("AIFS_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)


def _stop(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
