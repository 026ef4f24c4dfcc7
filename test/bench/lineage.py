"""Cost of lineage capture on a DataLoader workload: samples/s with -o lineage=on and off.

  /usr/bin/python3 test/bench/lineage.py --build build [--files 10000] [--rounds 3]

Makes a store under /var/tmp, writes FILES files of 4 to 16 KiB (random sizes) into
datasets/bench/ (100 directories) and snapshots them as v1.  Then, ROUNDS times and
alternating which mode goes first, mounts the store with lineage=off or lineage=on and
runs a job in its own session (setsid): two DataLoader epochs over the snapshot (4
workers, batch 64, shuffled), the first after drop_caches (cold), the second warm, then
a torch.save into checkpoints/ so that the capture is attached (and checked, with
lineage on).  Prints samples/s per run and the medians; needs root.  Not a test: nothing
here is asserted about time.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PY = "/usr/bin/python3"

JOB = r'''
import json, os, sys, time
import torch
from torch.utils.data import DataLoader

a = json.loads(sys.argv[1])
torch.set_num_threads(1)

class Files(torch.utils.data.Dataset):
    def __init__(self, paths):
        self.paths = paths
    def __len__(self):
        return len(self.paths)
    def __getitem__(self, i):
        with open(self.paths[i], "rb", buffering=0) as f:
            b = f.read()
        return torch.tensor(len(b))

paths = [l.rstrip("\n") for l in open(a["list"])]
res = {}
for name in ("cold", "warm"):
    if name == "cold":
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    dl = DataLoader(Files(paths), batch_size=64, shuffle=True, num_workers=4)
    t = time.perf_counter()
    n = 0
    for b in dl:
        n += len(b)
    res[name] = n / (time.perf_counter() - t)
    assert n == len(paths), (n, len(paths))
torch.save({"w": torch.zeros(4)}, a["save"])
print(json.dumps(res))
'''


def sh(argv, **kw):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    if p.returncode != 0:
        sys.exit("%s: exit %d: %s" % (" ".join(argv), p.returncode, p.stdout.decode()[-2000:]))
    return p.stdout.decode()


def mount(build, store, mnt, opts, log):
    proc = subprocess.Popen([os.path.join(build, "aifs"), store, mnt, "-f", "-o", opts],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    for _ in range(1500):
        if os.path.ismount(mnt):
            return proc
        if proc.poll() is not None:
            sys.exit("aifs exited %d while mounting" % proc.returncode)
        time.sleep(0.02)
    sys.exit("aifs: no mount after 30 s")


def unmount(mnt, proc):
    sh(["umount", mnt])
    proc.wait(60)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    base = tempfile.mkdtemp(prefix="aifs-lineage-bench-", dir="/var/tmp")
    store, mnt = os.path.join(base, "store"), os.path.join(base, "mnt")
    os.mkdir(mnt)
    log = open(os.path.join(base, "aifs.log"), "ab")
    runs = []
    try:
        sh([os.path.join(build, "aifsctl"), "mkfs", store])
        proc = mount(build, store, mnt, "lineage=on", log)
        ds = os.path.join(mnt, "datasets", "bench")
        rel = []
        rnd = os.urandom(16384)
        for i in range(a.files):
            d = "shard%03d" % (i % 100)
            if i < 100:
                os.makedirs(os.path.join(ds, d))
            r = os.path.join(d, "s%06d.bin" % i)
            size = 4096 + (i * 7919) % (12 * 1024 + 1)
            with open(os.path.join(ds, r), "wb") as f:
                f.write(rnd[:size])
            rel.append(r)
        os.mkdir(os.path.join(ds, ".aifs", "snapshots", "v1"))
        os.mkdir(os.path.join(mnt, "checkpoints", "bench"))
        unmount(mnt, proc)
        snap = os.path.join(ds, ".aifs", "snapshots", "v1")
        listing = os.path.join(base, "files.txt")
        with open(listing, "w") as f:
            f.write("".join(os.path.join(snap, r) + "\n" for r in rel))
        job = os.path.join(base, "job.py")
        with open(job, "w") as f:
            f.write(JOB)
        for rnd_i in range(a.rounds):
            for mode in (("off", "on") if rnd_i % 2 == 0 else ("on", "off")):
                proc = mount(build, store, mnt, "lineage=" + mode, log)
                save = os.path.join(mnt, "checkpoints", "bench", "r%d-%s.pt" % (rnd_i, mode))
                try:
                    out = sh(["setsid", "--wait", PY, job, json.dumps({"list": listing,
                                                                       "save": save})])
                    res = json.loads(out.strip().splitlines()[-1])
                    try:
                        lin = json.loads(os.getxattr(save, "user.aifs.lineage"))
                        srcs = [(x["kind"], x["dataset"], x["snapshot"]) for x in lin["sources"]]
                    except OSError:
                        srcs = None
                finally:
                    unmount(mnt, proc)
                want = [("snapshot", "datasets/bench", "v1")] if mode == "on" else None
                if srcs != want:
                    sys.exit("lineage=%s: expected sources %s, saw %s" % (mode, want, srcs))
                runs.append((mode, rnd_i, res["cold"], res["warm"]))
                print("round %d lineage=%-3s  epoch cold %8.0f samples/s   warm %8.0f samples/s"
                      % (rnd_i + 1, mode, res["cold"], res["warm"]), flush=True)
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["umount", "-l", mnt])
        log.close()
        shutil.rmtree(base, ignore_errors=True)
    print("%d files of 4-16 KiB in a snapshot, medians of %d rounds:" % (a.files, a.rounds))
    for name, col in (("cold", 2), ("warm", 3)):
        off = statistics.median(r[col] for r in runs if r[0] == "off")
        on = statistics.median(r[col] for r in runs if r[0] == "on")
        print("  epoch %-4s  lineage=off %8.0f  lineage=on %8.0f samples/s  (on/off %.3f)"
              % (name, off, on, on / off))


if __name__ == "__main__":
    main()
