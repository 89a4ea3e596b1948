"""The codegreen executable wherever it is: the build tree's uses this tree's python/, an
installed copy (cmake --install into a temporary prefix) uses its own installation's runtime and
library with no variable set and never the build tree; CODEGREEN_PYTHON chooses measure's
interpreter; --carbon-intensity on run and measure."""

import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def build_dir():
    return os.path.dirname(os.path.dirname(os.environ["CODEGREEN_LIB_PATH"]))


def binary():
    return os.environ.get("CODEGREEN_BIN") or os.path.join(build_dir(), "bin", "codegreen")


def bare_env():
    env = dict(os.environ)
    for var in ("CODEGREEN_LIB_PATH", "PYTHONPATH", "CODEGREEN_PYTHON_DIR", "CODEGREEN_PYTHON",
                "CODEGREEN_CARBON_INTENSITY"):
        env.pop(var, None)
    return env


PROBE = ("import sys, codegreen_runtime\n"
         "def f():\n"
         "    return sum(range(1000))\n"
         "f()\n"
         "print(codegreen_runtime.__file__)\n"
         "print([l.split()[-1] for l in open('/proc/self/maps') if 'libcodegreen-nemb' in l][0])\n"
         "print(sys.executable)\n")


def measure(exe, tmp_path, *args, env=None):
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    return subprocess.run([exe, "measure"] + list(args) + [str(script)], env=env or bare_env(),
                          cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)


def test_build_tree_cli_uses_this_tree(tmp_path, sim_env):
    r = measure(binary(), tmp_path, "--python", "/usr/bin/python3")
    assert r.returncode == 0, r.stderr
    runtime, lib, _ = r.stdout.splitlines()
    assert runtime == os.path.join(ROOT, "python", "codegreen_runtime.py")
    assert os.path.realpath(lib) == os.path.realpath(
        os.path.join(build_dir(), "lib", "libcodegreen-nemb.so.0"))


def test_installed_cli_uses_its_installation(tmp_path, sim_env):
    if not os.path.exists(os.path.join(build_dir(), "cmake_install.cmake")):
        pytest.skip("no CMake build directory beside the library")
    prefix = tmp_path / "prefix"
    subprocess.check_call(["cmake", "--install", build_dir(), "--prefix", str(prefix)],
                          stdout=subprocess.DEVNULL)
    exe = str(prefix / "bin" / "codegreen")
    env = bare_env()
    env.pop("LD_LIBRARY_PATH", None)
    r = measure(exe, tmp_path, "--python", "/usr/bin/python3", env=env)
    assert r.returncode == 0, r.stderr
    runtime, lib, _ = r.stdout.splitlines()
    # the runtime through <prefix>/share/codegreen/python, which links the installed package
    assert runtime == str(prefix / "share" / "codegreen" / "python" / "codegreen_runtime.py")
    assert os.path.realpath(runtime).startswith(str(prefix) + os.sep)
    assert not os.path.realpath(runtime).startswith(ROOT + os.sep)
    assert os.path.realpath(lib).startswith(str(prefix) + os.sep)
    # ... even with the source tree's python/ still in place (the bug: it was preferred)
    assert os.path.exists(os.path.join(ROOT, "python", "codegreen_runtime.py"))
    # and the installed package finds this executable
    site = os.path.dirname(os.path.dirname(os.path.realpath(runtime)))
    out = subprocess.check_output(
        ["/usr/bin/python3", "-c", "import codegreen; print(codegreen.executable())"],
        env=dict(env, PYTHONPATH=os.path.dirname(os.path.realpath(runtime))),
        universal_newlines=True)
    assert out.strip() == exe, site
    # a source tree used through PYTHONPATH has none
    out = subprocess.check_output(
        ["/usr/bin/python3", "-c", "import codegreen; print(codegreen.executable())"],
        env=dict(env, PYTHONPATH=os.path.join(ROOT, "python")), universal_newlines=True)
    assert out.strip() == "None"


def test_codegreen_python_chooses_the_interpreter(tmp_path, sim_env):
    env = bare_env()
    env["CODEGREEN_PYTHON"] = "/usr/bin/python3"
    r = measure(binary(), tmp_path, "-o", "m.json", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[2] == "/usr/bin/python3"
    # --python wins over it
    if shutil.which("python3") and os.path.realpath(shutil.which("python3")) != \
            os.path.realpath("/usr/bin/python3"):
        r = measure(binary(), tmp_path, "--python", sys.executable, env=env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[2] == sys.executable
    env["CODEGREEN_PYTHON"] = str(tmp_path / "no-such-python")
    r = measure(binary(), tmp_path, env=env)
    assert r.returncode != 0 and "cannot find the interpreter" in r.stderr


def test_carbon_intensity_on_run_and_measure(tmp_path, sim_env):
    r = subprocess.run([binary(), "run", "--carbon-intensity", "400", "-o", "r.json", "--",
                        "sleep", "0.05"], cwd=str(tmp_path), stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["meta"]["carbon"]["intensity_g_per_kwh"] == 400
    assert rep["meta"]["carbon"]["source"] == "user-given"
    assert rep["totals"]["co2e_g"] == pytest.approx(rep["totals"]["energy_j"] / 3.6e6 * 400)
    for t in rep["tasks"]:
        assert t["co2e_g"] == pytest.approx(t["energy_j"] / 3.6e6 * 400)
    assert "at 400 g/kWh (user-given)" in r.stderr

    env = bare_env()
    r = measure(binary(), tmp_path, "--python", "/usr/bin/python3", "--carbon-intensity", "50",
                "-o", "m.json", env=env)
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "m.json").read_text())
    assert rep["meta"]["carbon"]["intensity_g_per_kwh"] == 50
    f = [f for f in rep["functions"] if f["name"] == "f"][0]
    assert f["co2e_g"] == pytest.approx(f["energy_j"] / 3.6e6 * 50)
    assert rep["totals"]["session_co2e_g"] == pytest.approx(
        rep["totals"]["session_energy_j"] / 3.6e6 * 50)
    assert "co2e" in r.stderr and "at 50 g/kWh (user-given)" in r.stderr

    for bad in ("abc", "0", "-1", "10001"):
        r = subprocess.run([binary(), "run", "--carbon-intensity", bad, "--", "true"],
                           cwd=str(tmp_path), stderr=subprocess.PIPE, universal_newlines=True)
        assert r.returncode == 2
        assert "--carbon-intensity wants grams CO2e per kWh" in r.stderr
