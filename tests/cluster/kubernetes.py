#!/usr/bin/env python3
"""The Kubernetes manifests of examples/kubernetes/, checked without a cluster (none runs here):
parsed with PyYAML, their structure and wiring checked (Indexed completion mode, --shard auto with
--shards equal to completions, the output directory on the shared volume in both Jobs, the same
claim), then each pod's command run here as the Job would run it — JOB_COMPLETION_INDEX set to
0..completions-1, the volumes' paths mapped to a temporary directory — and the merge Job's command
after them; the merged summary must equal a single-process run's byte for byte.
Usage: tests/cluster/kubernetes.py LATENTEDIT_BINARY MODEL_DIR SOURCE_DIR
Exit 77 (skipped) without PyYAML (python3-yaml)."""
import filecmp
import json
import os
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    print("SKIP: PyYAML is not installed (apt install python3-yaml)")
    sys.exit(77)

binary, model, src = sys.argv[1:4]
here = os.path.join(src, "examples", "kubernetes")


def load(name):
    with open(os.path.join(here, name)) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    assert len(docs) == 1, f"{name}: one document expected, found {len(docs)}"
    d = docs[0]
    assert d["apiVersion"] == "batch/v1" and d["kind"] == "Job", f"{name}: not a batch/v1 Job"
    return d


def container(job):
    cs = job["spec"]["template"]["spec"]["containers"]
    assert len(cs) == 1
    return cs[0]


def mounts(job):
    """mountPath -> claim name, for the pod's PVC volumes."""
    vols = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    out = {}
    for m in container(job)["volumeMounts"]:
        v = vols[m["name"]]
        out[m["mountPath"]] = v.get("persistentVolumeClaim", {}).get("claimName") or ("configMap:" + v["configMap"]["name"])
    return out


batch, merge = load("latentedit-batch.yaml"), load("latentedit-merge.yaml")
spec = batch["spec"]
assert spec["completionMode"] == "Indexed", "the batch Job must be Indexed (JOB_COMPLETION_INDEX)"
n = spec["completions"]
assert isinstance(n, int) and n >= 1
assert spec.get("parallelism", n) <= n
assert batch["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")
cmd = container(batch)["command"]
assert cmd[:2] == ["latentedit", "batch"], cmd
assert cmd[cmd.index("--shard") + 1] == "auto", "the pods must read their index: --shard auto"
assert int(cmd[cmd.index("--shards") + 1]) == n, "--shards must equal spec.completions"
out_dir = cmd[cmd.index("--out") + 1]
mcmd = container(merge)["command"]
assert mcmd == ["latentedit", "batch", "merge", out_dir], f"the merge must merge {out_dir}: {mcmd}"
bm, mm = mounts(batch), mounts(merge)
shared = [p for p in bm if out_dir.startswith(p.rstrip("/") + "/")]
assert shared, f"{out_dir} is on no mounted volume"
assert not bm[shared[0]].startswith("configMap:"), "the output must be on a persistent volume"
assert mm.get(shared[0]) == bm[shared[0]], "the merge Job must mount the same claim at the same path"
job_file = cmd[2]
assert any(job_file.startswith(p.rstrip("/") + "/") for p in bm), f"{job_file} is on no mounted volume"
print(f"ok: manifests parse; Indexed, {n} completions = --shards {n}; {out_dir} on claim {bm[shared[0]]} in both Jobs")

# Run the pods' commands here: the volumes' paths mapped into a temporary directory.
with tempfile.TemporaryDirectory() as d:
    def local(path):
        return os.path.join(d, path.lstrip("/"))

    jobs = {"defaults": {"steps": 2, "count": 1}, "jobs": [{"id": f"j{i}", "seed": i, "add": ["Smiling"],
                                                             "step_size": 0.01 * (i + 1), "method": "gradient"}
                                                            for i in range(6)]}
    os.makedirs(os.path.dirname(local(job_file)), exist_ok=True)
    with open(local(job_file), "w") as f:
        json.dump(jobs, f)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for k in ("SLURM_ARRAY_TASK_ID", "AWS_BATCH_JOB_ARRAY_INDEX"):
        env.pop(k, None)

    def run(argv, extra_env=None, expect=0):
        argv = [binary] + [local(a) if a.startswith("/") else a for a in argv[1:]]
        argv += ["--model", model] if argv[1:3] == ["batch", local(job_file)] else []
        p = subprocess.run(argv, env=dict(env, **(extra_env or {})), capture_output=True, text=True)
        assert p.returncode == expect, f"{argv} exited {p.returncode}, not {expect}: {p.stderr.strip()}"
        return p

    single = local("/single")
    run(["latentedit", "batch", job_file, "--out", "/single", "-q", "--threads", "1"])
    # A merge before any pod ran: refused; then each pod's command, with the index Kubernetes sets.
    for i in range(n):
        if i == 1:
            p = run(mcmd, expect=7)
            assert "not finished" in p.stderr, p.stderr
        run(cmd, {"JOB_COMPLETION_INDEX": str(i)})
    # An index the Job cannot have is refused.
    p = run(cmd, {"JOB_COMPLETION_INDEX": str(n)}, expect=2)
    assert "not below the shard count" in p.stderr, p.stderr
    run(mcmd)
    assert filecmp.cmp(os.path.join(single, "summary.json"), os.path.join(local(out_dir), "summary.json"), shallow=False), \
        "the merged summary differs from the single run's"
    rec = json.load(open(os.path.join(local(out_dir), ".shards", f"0-of-{n}.json")))
    assert rec["engine"] == "kubernetes" and rec["environment"] == {"JOB_COMPLETION_INDEX": "0"}, rec
print(f"ok: the {n} pods' commands (JOB_COMPLETION_INDEX 0..{n - 1}) and the merge's, run here, equal a single run byte for byte")
print("PASS")
