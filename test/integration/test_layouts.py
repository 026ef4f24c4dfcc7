#!/usr/bin/env python3
"""One save of a training stack is one directory version, recognised by the
file the stack writes last (aifs(7), "Directory checkpoints").

Hugging Face transformers, TensorFlow and torch 2.x's distributed
checkpoint (DCP) are not packaged in Debian 12 (its torch 1.13 has no
torch.distributed.checkpoint): these tests write the files in exactly the
order and the way those libraries write them (transformers'
save_pretrained and Trainer._save_checkpoint, TensorFlow's
CheckpointManager and tf.saved_model.save, DCP's FileSystemWriter from
several processes), and say so here."""
import json
import os
import signal
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Store, check, data, eq, main, skip_native, test,  # noqa: E402
                     write_file)

PYTHON = "/usr/bin/python3"


def versions(s, rel):
    """Version numbers of directory REL (from the mount root)."""
    parent, name = os.path.split(os.path.join(s.mnt, rel))
    try:
        return sorted(int(v) for v in os.listdir(os.path.join(parent, ".aifs", "versions", name)))
    except FileNotFoundError:
        return []


def version_dir(s, rel, n):
    parent, name = os.path.split(os.path.join(s.mnt, rel))
    return os.path.join(parent, ".aifs", "versions", name, str(n))


def read(p):
    with open(p, "rb") as f:
        return f.read()


def safetensors(tag, n):
    """A safetensors file: header length, JSON header, the tensor's bytes."""
    body = data(tag, n)
    h = json.dumps({"w": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + body


def save_pretrained(d, step, shards=0):
    """What transformers' PreTrainedModel.save_pretrained writes, in order:
    config.json, generation_config.json, the weights (one file, or shards
    and then the index)."""
    os.makedirs(d, exist_ok=True)
    write_file(os.path.join(d, "config.json"), json.dumps({"step": step}).encode())
    write_file(os.path.join(d, "generation_config.json"), b'{"max_length": 20}')
    if not shards:
        write_file(os.path.join(d, "model.safetensors"), safetensors("w%d" % step, 50000))
        return
    names = ["model-%05d-of-%05d.safetensors" % (i + 1, shards) for i in range(shards)]
    for i, n in enumerate(names):
        write_file(os.path.join(d, n), safetensors("w%d.%d" % (step, i), 40000))
    index = {"metadata": {"total_size": 40000 * shards},
             "weight_map": {"layer%d.w" % i: n for i, n in enumerate(names)}}
    write_file(os.path.join(d, "model.safetensors.index.json"), json.dumps(index).encode())


@test
def hugging_face_save_pretrained_is_one_directory_version():
    skip_native()
    with Store() as s:
        d = os.path.join(s.mnt, "checkpoints", "bert")
        save_pretrained(d, 1)
        eq(versions(s, "checkpoints/bert"), [1], "directory versions after one save_pretrained")
        save_pretrained(d, 2)
        eq(versions(s, "checkpoints/bert"), [1, 2], "directory versions after two")
        v2 = version_dir(s, "checkpoints/bert", 2)
        eq(json.loads(read(os.path.join(v2, "config.json"))), {"step": 2},
           "config.json of directory version 2: the config of save 2")
        eq(read(os.path.join(v2, "model.safetensors")), safetensors("w2", 50000),
           "weights of directory version 2: the weights of save 2")
        eq(json.loads(read(os.path.join(version_dir(s, "checkpoints/bert", 1), "config.json"))),
           {"step": 1}, "config.json of directory version 1")


@test
def hugging_face_sharded_save_commits_when_its_index_lands():
    skip_native()
    with Store() as s:
        d = os.path.join(s.mnt, "checkpoints", "llm")
        save_pretrained(d, 1, shards=3)
        eq(versions(s, "checkpoints/llm"), [1], "directory versions after a sharded save")
        v1 = version_dir(s, "checkpoints/llm", 1)
        eq(sorted(os.listdir(v1)), sorted(["config.json", "generation_config.json",
                                           "model.safetensors.index.json"] +
                                          ["model-%05d-of-00003.safetensors" % i for i in (1, 2, 3)]),
           "files of the sharded version")
        # a shard still being written by another process: the index alone
        # does not complete the save
        shard = os.path.join(d, "model-00002-of-00003.safetensors")
        fd = os.open(shard, os.O_WRONLY | os.O_TRUNC)
        os.write(fd, safetensors("w2.1", 40000)[:1000])
        write_file(os.path.join(d, "model.safetensors.index.json"),
                   read(os.path.join(v1, "model.safetensors.index.json")))
        eq(versions(s, "checkpoints/llm"), [1], "versions while a shard is being written")
        os.write(fd, safetensors("w2.1", 40000)[1000:])
        os.close(fd)
        save_pretrained(d, 2, shards=3)
        eq(versions(s, "checkpoints/llm"), [1, 2], "versions after the second sharded save")


@test
def trainer_checkpoint_dir_is_one_version_not_two():
    skip_native()
    with Store() as s:
        # Trainer._save_checkpoint: save_model (config, weights, training
        # args), optimizer, scheduler, rng state, then trainer_state.json
        d = os.path.join(s.mnt, "checkpoints", "out", "checkpoint-500")
        save_pretrained(d, 500)
        write_file(os.path.join(d, "training_args.bin"), data("args", 3000))
        eq(versions(s, "checkpoints/out/checkpoint-500"), [],
           "versions of a Trainer directory before trainer_state.json")
        write_file(os.path.join(d, "optimizer.pt"), data("opt", 200000))
        write_file(os.path.join(d, "scheduler.pt"), data("sch", 1000))
        write_file(os.path.join(d, "rng_state.pth"), data("rng", 1000))
        write_file(os.path.join(d, "trainer_state.json"), b'{"global_step": 500}')
        eq(versions(s, "checkpoints/out/checkpoint-500"), [1],
           "versions of a Trainer directory after trainer_state.json")
        eq(len(os.listdir(version_dir(s, "checkpoints/out/checkpoint-500", 1))), 8,
           "files of the Trainer's version")


def tf_checkpoint_manager_save(d, n):
    """tf.train.CheckpointManager.save: the data shard, the index, then the
    state file through a temporary file and a rename."""
    write_file(os.path.join(d, "ckpt-%d.data-00000-of-00001" % n), data("tf%d" % n, 80000))
    write_file(os.path.join(d, "ckpt-%d.index" % n), data("ix%d" % n, 300))
    tmp = os.path.join(d, "checkpoint.tmp%x" % (n * 7919))
    write_file(tmp, ('model_checkpoint_path: "ckpt-%d"\nall_model_checkpoint_paths: "ckpt-%d"\n'
                     % (n, n)).encode())
    os.rename(tmp, os.path.join(d, "checkpoint"))


@test
def tensorflow_checkpoint_manager_saves_are_versions_and_pruned():
    skip_native()
    with Store(opts="keep_versions=2") as s:
        d = os.path.join(s.mnt, "checkpoints", "tf")
        os.makedirs(d)
        for n in (1, 2, 3):
            tf_checkpoint_manager_save(d, n)
            if n > 1:       # max_to_keep=1: the manager deletes the previous save
                os.unlink(os.path.join(d, "ckpt-%d.index" % (n - 1)))
                os.unlink(os.path.join(d, "ckpt-%d.data-00000-of-00001" % (n - 1)))
        eq(versions(s, "checkpoints/tf"), [2, 3], "versions kept with keep_versions=2")
        v3 = version_dir(s, "checkpoints/tf", 3)
        check(read(os.path.join(v3, "checkpoint")).startswith(b'model_checkpoint_path: "ckpt-3"'),
              "the state file of version 3 names ckpt-3")
        eq(read(os.path.join(v3, "ckpt-3.data-00000-of-00001")), data("tf3", 80000), "data of version 3")
        # a save killed before its state file lands is no version
        write_file(os.path.join(d, "ckpt-4.data-00000-of-00001"), data("tf4", 80000))
        eq(versions(s, "checkpoints/tf"), [2, 3], "versions after a save that never finished")
        # a SavedModel directory: variables, then saved_model.pb
        sm = os.path.join(s.mnt, "checkpoints", "export")
        os.makedirs(os.path.join(sm, "variables"))
        os.makedirs(os.path.join(sm, "assets"))
        write_file(os.path.join(sm, "variables", "variables.data-00000-of-00001"), data("v", 50000))
        write_file(os.path.join(sm, "variables", "variables.index"), data("vi", 200))
        eq(versions(s, "checkpoints/export"), [], "versions of a SavedModel before saved_model.pb")
        write_file(os.path.join(sm, "saved_model.pb"), data("pb", 5000))
        eq(versions(s, "checkpoints/export"), [1], "versions of a SavedModel after saved_model.pb")


DCP_RANK = r"""
import os, sys, time
d, rank, n, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
# FileSystemWriter: each rank writes its shard __RANK_0.distcp and fsyncs it
p = os.path.join(d, "__%d_0.distcp" % rank)
with open(p, "wb") as f:
    for i in range(n):
        f.write((b"%s-%d-%d;" % (step.encode(), rank, i)) * 1000)
        if os.environ.get("SLOW"):
            time.sleep(0.05)
    f.flush()
    os.fsync(f.fileno())
"""


def dcp_save(d, step, ranks=3, kill_rank=None):
    """Ranks write their shards in parallel; after the barrier rank 0 writes
    .metadata.tmp and renames it to .metadata (FileSystemWriter.finish)."""
    os.makedirs(d, exist_ok=True)
    procs = []
    for r in range(ranks):
        env = dict(os.environ, SLOW="1") if r == kill_rank else None
        procs.append(subprocess.Popen([PYTHON, "-c", DCP_RANK, d, str(r), "20", step], env=env))
    if kill_rank is not None:
        time.sleep(0.3)
        procs[kill_rank].send_signal(signal.SIGKILL)
    codes = [p.wait() for p in procs]
    if any(codes):
        return False        # the barrier never completes: rank 0 writes no .metadata
    write_file(os.path.join(d, ".metadata.tmp"), json.dumps({"step": step}).encode())
    os.rename(os.path.join(d, ".metadata.tmp"), os.path.join(d, ".metadata"))
    return True


@test
def dcp_save_from_several_ranks_is_one_version():
    skip_native()
    with Store() as s:
        d = os.path.join(s.mnt, "checkpoints", "dcp")
        check(dcp_save(d, "s1"), "first DCP save")
        eq(versions(s, "checkpoints/dcp"), [1], "versions after a DCP save from three ranks")
        v1 = version_dir(s, "checkpoints/dcp", 1)
        for r in range(3):
            eq(read(os.path.join(v1, "__%d_0.distcp" % r)),
               b"".join((b"s1-%d-%d;" % (r, i)) * 1000 for i in range(20)),
               "shard of rank %d in version 1" % r)
        check(not dcp_save(d, "s2", kill_rank=1), "a save with a rank killed must not finish")
        eq(versions(s, "checkpoints/dcp"), [1], "versions after a save whose rank 1 was killed")
        eq(os.getxattr(d, "user.aifs.version"), b"1", "the version the directory serves")
        check(dcp_save(d, "s3"), "the next DCP save")
        eq(versions(s, "checkpoints/dcp"), [1, 2], "versions after the next save")


@test
def dir_versions_manual_turns_recognition_off():
    skip_native()
    with Store(opts="dir_versions=manual") as s:
        d = os.path.join(s.mnt, "checkpoints", "bert")
        save_pretrained(d, 1)
        dcp = os.path.join(s.mnt, "checkpoints", "dcp")
        dcp_save(dcp, "s1", ranks=1)
        eq((versions(s, "checkpoints/bert"), versions(s, "checkpoints/dcp")), ([], []),
           "directory versions with dir_versions=manual")
        r = subprocess.run([os.environ.get("AIFSCTL_BIN", "aifsctl"), "checkpoint", "commit", d],
                           capture_output=True, text=True)
        eq(r.returncode, 0, "aifsctl checkpoint commit: " + r.stderr)
        eq(versions(s, "checkpoints/bert"), [1], "after aifsctl checkpoint commit")


if __name__ == "__main__":
    main()
