"""Where the daemon's time goes in one benchmark workload: perf over a fresh mount.

  /usr/bin/python3 test/bench/profile.py --build build WORKLOAD [--size N] [--top 40]

WORKLOAD is one of the workloads of bench.py, run alone on a fresh store:
  seqwrite, seqread, randread        fio as bench.py runs it (--size MiB, default 1024)
  meta, torch, loader, audit         work.py KIND (--size: files, MiB, files, records)
While it runs, `perf record --call-graph dwarf` samples the aifs daemon; then this
prints the daemon's counters (aifsctl stats) and perf's report of the functions with
the most time, callers included (children), and writes perf.data and the report to
bench/results/profile-WORKLOAD-*.  Needs root and perf (linux-perf).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402

FIO = {"seqwrite": ("write", "1M", ["--end_fsync=1"]), "seqread": ("read", "1M", []),
       "randread": ("randread", "4k", ["--time_based", "--runtime=15"])}


def work_args(kind, root, size):
    if kind == "meta":
        return {"dir": os.path.join(root, "meta"), "files": size or 20000, "dirs": 20,
                "readdir_passes": 5, "unlink_cap": 60}
    if kind == "torch":
        return {"path": os.path.join(root, "checkpoints", "model.pt"), "mib": size or 512,
                "tensor_mib": 16, "load": True}
    if kind == "loader":
        return {"dir": os.path.join(root, "datasets", "loader"), "files": size or 10000,
                "size": 100 * 1024, "dirs": 10, "batch": 64, "workers": 2, "snapshot": True}
    return {"path": os.path.join(root, "audit", "prof.log"), "records": size or 100000,
            "size": 1024}


def main():
    ap = argparse.ArgumentParser(description="perf profile of the aifs daemon in one workload")
    ap.add_argument("workload", choices=sorted(FIO) + ["meta", "torch", "loader", "audit"])
    ap.add_argument("--build", default=os.path.join(bench.TOP, "build"))
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--out", default=os.path.join(bench.TOP, "bench", "results"))
    ap.add_argument("--size", type=int, default=0, help="size of the workload (see above)")
    ap.add_argument("--top", type=int, default=40, help="lines of the report printed")
    ap.add_argument("--mount-opts", default="")
    p = ap.parse_args()
    build = os.path.abspath(p.build)
    base = tempfile.mkdtemp(prefix="aifs-prof-", dir=p.dir)
    store, mnt = os.path.join(base, "store"), os.path.join(base, "mnt")
    os.makedirs(p.out, exist_ok=True)
    stem = os.path.join(p.out, "profile-%s-%s" % (p.workload, time.strftime("%Y%m%d-%H%M%S")))
    rc, out, err = bench.run([os.path.join(build, "aifsctl"), "mkfs", store], 120)
    if rc != 0:
        sys.exit("mkfs: " + out + err)
    os.mkdir(mnt)
    d = bench.Daemon("aifs", [os.path.join(build, "aifs"), store, mnt, "-f", "-o",
                              ",".join(filter(None, ["allow_other", p.mount_opts]))],
                     mnt, os.path.join(base, "aifs.log"))
    d.start()
    perf = None
    try:
        for sub in ("checkpoints", "datasets", "audit", "seq"):
            os.makedirs(os.path.join(mnt, sub), exist_ok=True)
        seqfile = os.path.join(mnt, "seq", "fio.dat")
        size = (p.size or 1024) << 20
        if p.workload in ("seqread", "randread"):
            bench.run(["fio", "--name=fill", "--filename=" + seqfile, "--rw=write", "--bs=1M",
                       "--size=%d" % size, "--ioengine=psync", "--end_fsync=1"], 600)
            bench.drop_caches()
        perf = subprocess.Popen(["perf", "record", "-F", "499", "--call-graph", "dwarf,16384",
                                 "-p", str(d.proc.pid), "-o", stem + ".data"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        t = time.perf_counter()
        if p.workload in FIO:
            rw, bs, extra = FIO[p.workload]
            rc, o, e = bench.run(["fio", "--name=" + p.workload, "--filename=" + seqfile,
                                  "--rw=" + rw, "--bs=" + bs, "--size=%d" % size,
                                  "--ioengine=psync", "--fallocate=none",
                                  "--output-format=json"] + extra, 900)
            job = json.loads(o[o.index("{"):])["jobs"][0]
            result = {"read_MiBs": job["read"]["bw_bytes"] / 2**20,
                      "write_MiBs": job["write"]["bw_bytes"] / 2**20,
                      "read_iops": job["read"]["iops"]}
        else:
            rc, o, e = bench.run([bench.PY, os.path.join(HERE, "work.py"), p.workload,
                                  json.dumps(work_args(p.workload, mnt, p.size))], 900)
            if rc != 0:
                raise RuntimeError(e.strip()[-800:])
            result = json.loads(o.strip().splitlines()[-1])
        wall = time.perf_counter() - t
        perf.send_signal(2)
        perf.wait(120)
        perf = None
        rc, stats, _ = bench.run([os.path.join(build, "aifsctl"), "stats", mnt], 60)
    finally:
        if perf is not None:
            perf.kill()
            perf.wait()
        err = d.stop()
        shutil.rmtree(base, ignore_errors=True)
    rc, report, e = bench.run(["perf", "report", "-i", stem + ".data", "--children",
                               "--stdio", "-g", "none", "--percent-limit", "1",
                               "--sort", "dso,symbol"], 900)
    with open(stem + ".txt", "w") as f:
        f.write("%s: %s (%.1f s)\n\n%s\n%s" % (p.workload, json.dumps(result), wall, stats,
                                              report))
    print("%s: %s (%.1f s)%s" % (p.workload, json.dumps(result), wall,
                                 " [unmount: %s]" % err if err else ""))
    print(stats)
    lines = [l for l in report.splitlines() if l.strip() and not l.startswith("#")]
    print("\n".join(lines[:p.top]))
    print("report: %s.txt, data: %s.data" % (stem, stem))


if __name__ == "__main__":
    main()
