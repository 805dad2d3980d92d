"""import latentedit from Debian's python3 (pytest): the module built from the same library as the
CLI. Run by CTest (python.Module) with PYTHONPATH at the build's python/ directory and
LATENTEDIT_CLI at the executable; the bundled model is the source tree's."""
import json
import shutil
import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

import latentedit as le

CLI = os.environ["LATENTEDIT_CLI"]
BUNDLE = os.environ["LATENTEDIT_BUNDLE"]
EDIT = dict(add=["Smiling"], seed=7, count=2, steps=3, method="gradient", eot=0)


@pytest.fixture(scope="module")
def m():
    le.set_threads(1)
    return le.load(BUNDLE)


def cli(*args):
    p = subprocess.run([CLI, *args, "-q", "--threads", "1", "--model", BUNDLE], capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_arrays_have_the_documented_dtypes_and_shapes(m):
    assert m.attributes[31] == "Smiling" and len(m.attributes) == 40
    r = m.edit(**EDIT)
    for a in (r.before, r.after):
        assert a.dtype == np.uint8 and a.shape == (2, 64, 64, 3)
    for z in (r.z_before, r.z_after):
        assert z.dtype == np.float32 and z.shape == (2, m.z_dim)
    assert r.probs.dtype == np.float32 and r.probs.shape == (4, 2, 40)
    assert np.array_equal(r.z_before, m.latents(seed=7, count=2))
    g = r.grid()
    assert g.dtype == np.uint8 and g.ndim == 3 and g.shape[2] == 3
    assert m.sample(seed=3, count=4).shape == (4, 64, 64, 3)
    assert np.array_equal(m.sample(seed=7, count=2), r.before)
    # The edit went the way it was asked, and the report says so.
    assert r.probs[-1, :, 31].mean() > r.probs[0, :, 31].mean()
    assert r.report["settings"]["add"] == ["Smiling"]


def test_save_writes_the_cli_files_byte_for_byte(m, tmp_path):
    r = m.edit(**EDIT)
    names = r.save(str(tmp_path / "py"))
    cli("edit", "--add", "Smiling", "--seed", "7", "--count", "2", "--steps", "3", "--method", "gradient", "--eot", "0",
        "--out", str(tmp_path / "cli"))
    assert sorted(names + [".latentedit-output.json"]) == sorted(os.listdir(tmp_path / "py"))
    assert sorted(os.listdir(tmp_path / "py")) == sorted(os.listdir(tmp_path / "cli"))
    for n in names:
        a, b = (tmp_path / "py" / n).read_bytes(), (tmp_path / "cli" / n).read_bytes()
        if n == "report.json":  # the same but for who ran it: the CLI's output path and timings
            ja, jb = json.loads(a), json.loads(b)
            for j in (ja, jb):
                j.pop("timings", None)
                j.pop("out", None)
            assert ja == jb
        else:
            assert a == b, n
    # An existing output that is not an edit's is refused, as the CLI refuses it.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "holiday.jpg").write_bytes(b"not latentedit's")
    with pytest.raises(OSError, match="holiday|not|--force|anyway"):
        r.save(str(tmp_path / "mine"))
    assert os.listdir(tmp_path / "mine") == ["holiday.jpg"]


def test_score_equals_the_cli(m, tmp_path):
    r = m.edit(**EDIT)
    r.save(str(tmp_path / "e"))
    path = str(tmp_path / "e" / "latent_000_after.png")
    out = json.loads(cli("score", path, "--json"))
    want = np.array([out["images"][0]["probs"][a] for a in m.attributes], dtype=np.float32)
    from_path = m.score([path])
    from_array = m.score(r.after[:1])
    assert from_path.shape == (1, 40) and from_path.dtype == np.float32
    np.testing.assert_allclose(from_path[0], want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(from_array[0], want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(m.score(r.after[:1].astype(np.float32) / 255.0)[0], want, rtol=0, atol=1e-6)


def test_a_move_along_a_discovered_direction_is_an_edit_like_any_other(m):
    r = m.edit(seed=3, count=2, direction=["sefa#10:2"])
    assert r.report["method_used"] == "direction" and r.report["directions"][0]["direction"] == "sefa#10"
    assert r.z_after.shape == (2, 64) and r.after.shape == (2, 64, 64, 3)
    with pytest.raises(ValueError, match='no discovered direction "sefa#99"'):
        m.edit(seed=1, direction=["sefa#99"])


def test_each_error_class_maps_to_its_exception(m, tmp_path):
    with pytest.raises(ValueError, match='unknown attribute "Smilling"'):
        m.edit(add=["Smilling"], seed=1)
    with pytest.raises(ValueError, match="stepz"):
        m.edit(add=["Smiling"], stepz=3)
    with pytest.raises(ValueError, match="must have shape"):
        m.generate(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="JSON"):
        m.edit(add=["Smiling"], step_size=float("nan"))
    with pytest.raises(le.ModelError):
        le.load(str(tmp_path))
    (tmp_path / "notimage.png").write_text("hello")
    with pytest.raises(ValueError):
        m.score([str(tmp_path / "notimage.png")])
    (tmp_path / "afile").write_text("x")
    r = m.edit(**EDIT)
    with pytest.raises(OSError):
        r.save(str(tmp_path / "afile"))
    assert (tmp_path / "afile").read_text() == "x"


def test_the_gil_is_released_during_an_edit(m):
    ticks = []
    stop = threading.Event()

    def other():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.005)

    t = threading.Thread(target=other)
    t.start()
    t0 = time.perf_counter()
    m.edit(add=["Smiling"], seed=1, count=8, steps=10)
    t1 = time.perf_counter()
    stop.set()
    t.join()
    during = [x for x in ticks if t0 < x < t1]
    assert t1 - t0 > 0.2
    assert len(during) >= 0.25 * (t1 - t0) / 0.005, f"the other thread ran {len(during)} times in {t1 - t0:.2f} s"


def test_ctrl_c_stops_a_long_edit_and_nothing_is_written(m, tmp_path):
    seen = []
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        m.edit(add=["Smiling"], seed=1, count=64, steps=1000, method="gradient", progress=seen.append)
    assert time.perf_counter() - t0 < 30
    assert seen and seen[-1]["step"] < seen[-1]["steps"], "the edit was not stopped part way"
    assert list(tmp_path.iterdir()) == []
    # A progress callback that raises stops the edit with its own exception.
    def boom(p):
        raise RuntimeError("stop here")
    with pytest.raises(RuntimeError, match="stop here"):
        m.edit(add=["Smiling"], seed=1, count=2, steps=50, method="gradient", progress=boom)


def test_invert_round_trips(m):
    target = m.sample(seed=11, count=1)
    inv = m.invert(target, steps=60, restarts=1, candidates=64)
    assert inv["z"].dtype == np.float32 and inv["z"].shape == (1, m.z_dim)
    assert inv["reconstruction"].shape == (1, 64, 64, 3) and inv["reconstruction"].dtype == np.uint8
    assert inv["psnr"][0] > 20, inv["psnr"]
    again = m.generate(inv["z"])
    assert np.array_equal(again, inv["reconstruction"])
    r = m.edit(latents=inv["z"], add=["Smiling"], steps=2, method="gradient", eot=0)
    assert np.array_equal(r.z_before, inv["z"])


def test_torch_tensors_pass_through_numpy(m):
    torch = pytest.importorskip("torch", reason="Debian's python3-torch is not installed")
    torch.manual_seed(7)
    z = torch.randn(2, m.z_dim)
    assert np.array_equal(m.latents(seed=7, count=2), z.numpy())
    r = m.edit(latents=z.numpy(), add=["Smiling"], steps=2, method="gradient", eot=0)
    assert torch.equal(torch.from_numpy(r.z_before), z)


EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python")


def test_the_example_script_and_notebook_run(tmp_path):
    env = dict(os.environ, LATENTEDIT_MODEL=BUNDLE)
    p = subprocess.run(["/usr/bin/python3", os.path.join(EXAMPLES, "edit.py"), str(tmp_path / "script")], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert "the auditor confirms" in p.stdout and (tmp_path / "script" / "grid.png").exists()
    nbconvert = shutil.which("jupyter-nbconvert")
    if not nbconvert:
        pytest.skip("jupyter-nbconvert is not installed (scripts/setup.sh --with-python)")
    out = tmp_path / "executed.ipynb"
    p = subprocess.run([nbconvert, "--to", "notebook", "--execute", "--output", str(out), os.path.join(EXAMPLES, "edit.ipynb")],
                       capture_output=True, text=True, env=dict(env, PYDEVD_DISABLE_FILE_VALIDATION="1"))
    assert p.returncode == 0, p.stderr[-2000:]
    nb = json.load(open(out))
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    assert outputs and not [o for o in outputs if o.get("output_type") == "error"]
    assert any("the auditor confirms" in "".join(o.get("text", "")) for o in outputs)
