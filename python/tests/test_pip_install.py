"""`pip install .` into venvs of the interpreters present on this machine (/usr/bin/python3 and
one pyenv CPython of another version; absent ones are skipped), offline, with setuptools as the
build backend, then a Session and `codegreen measure` from each, with no variable set; and a
wheel built once installed into other venvs.

The CMake build behind pip lives in the source tree's build-pip/<interpreter>/ (ignored by git,
like build/), so the first run of this file builds once per interpreter and later runs relink.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WHEELS = "/usr/share/python-wheels"  # Debian: python3-setuptools-whl python3-wheel-whl
PYENV = os.path.expanduser("~/.pyenv/versions")
BUILD_TIMEOUT = 1800

pytestmark = pytest.mark.skipif(
    not shutil.which("cmake") or not os.path.exists(os.path.join(ROOT, "setup.py")),
    reason="needs cmake and the source tree")


def version_of(python):
    out = subprocess.check_output([python, "-c", "import sys; print('%d.%d.%d' % "
                                   "sys.version_info[:3])"], universal_newlines=True)
    return out.strip()


def interpreters():
    """/usr/bin/python3, and the newest pyenv CPython 3.8+ of another minor version."""
    found = []
    if os.access("/usr/bin/python3", os.X_OK):
        found.append("/usr/bin/python3")
    system = version_of(found[0]).rsplit(".", 1)[0] if found else None
    candidates = []
    for d in glob.glob(os.path.join(PYENV, "3.*")):
        m = re.match(r"3\.(\d+)\.", os.path.basename(d) + ".")
        exe = os.path.join(d, "bin", "python3")
        if m and int(m.group(1)) >= 8 and os.access(exe, os.X_OK):
            candidates.append((int(m.group(1)), exe))
    for minor, exe in sorted(candidates, reverse=True):
        if "3.%d" % minor != system:
            found.append(exe)
            break
    return found


def clean_env(sim_env):
    env = dict(os.environ)
    for var in ("CODEGREEN_LIB_PATH", "PYTHONPATH", "CODEGREEN_PYTHON_DIR", "CODEGREEN_PYTHON",
                "CODEGREEN_BIN", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(var, None)
    return env


def make_venv(python, where, env):
    subprocess.check_call([python, "-m", "venv", str(where)], env=env)
    vpy = os.path.join(str(where), "bin", "python")
    return vpy


def give_build_backend(vpy, env):
    """setuptools and wheel, offline: the venv's own if it has them, else Debian's wheels."""
    have = subprocess.call([vpy, "-c", "import setuptools, wheel"], env=env,
                           stderr=subprocess.DEVNULL) == 0
    if have:
        return
    whls = glob.glob(os.path.join(WHEELS, "setuptools-*.whl")) + \
        glob.glob(os.path.join(WHEELS, "wheel-*.whl"))
    if len(whls) < 2:
        pytest.skip("no setuptools/wheel for this interpreter (Debian python3-setuptools-whl "
                    "python3-wheel-whl)")
    subprocess.check_call([vpy, "-m", "pip", "install", "-q", "--no-index"] + whls, env=env)


def check_installed(venv, vpy, env, tmp_path):
    """Session and `codegreen measure` from an installed venv, nothing set but the sim."""
    site = subprocess.check_output([vpy, "-c", "import sysconfig; "
                                    "print(sysconfig.get_path('purelib'))"],
                                   env=env, universal_newlines=True).strip()
    code = ("import time, codegreen\n"
            "print(codegreen.__file__)\n"
            "print(codegreen.native_library())\n"
            "print(codegreen.executable())\n"
            "with codegreen.Session('pip', save_to_file=False) as s:\n"
            "    with s.task('t'):\n"
            "        time.sleep(0.05)\n"
            "print(s.report['meta']['measurement_quality'], s.report['tasks'][0]['energy_j'])\n")
    out = subprocess.check_output([vpy, "-c", code], env=env, cwd=str(tmp_path),
                                  universal_newlines=True).splitlines()
    assert out[0] == os.path.join(site, "codegreen", "__init__.py")
    assert out[1] == os.path.join(site, "codegreen", "lib", "libcodegreen-nemb.so.0")
    assert out[2] == os.path.join(site, "codegreen", "bin", "codegreen")
    quality, energy = out[3].split()
    assert quality == "ok" and float(energy) > 0

    # The console script, called by its path with the venv not activated and another python3
    # first on PATH: it measures with the venv's interpreter and runtime.
    script = tmp_path / "work.py"
    script.write_text("import sys, codegreen_runtime\n"
                      "def f(n):\n"
                      "    return sum(range(n))\n"
                      "for _ in range(3):\n"
                      "    f(200000)\n"
                      "print(sys.executable)\n"
                      "print(codegreen_runtime.__file__)\n")
    report = tmp_path / "measure.json"
    r = subprocess.run([os.path.join(str(venv), "bin", "codegreen"), "measure", "-o",
                        str(report), str(script)], env=env, cwd=str(tmp_path),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert os.path.realpath(lines[0]) == os.path.realpath(vpy)
    assert lines[1] == os.path.join(site, "codegreen_runtime.py")
    rep = json.loads(report.read_text())
    funcs = {f["name"]: f for f in rep["functions"]}
    assert funcs["f"]["calls"] == 3
    assert rep["meta"]["python_version"] == version_of(vpy)
    assert "f " in r.stderr or "f\t" in r.stderr or " f " in r.stderr

    # man pages went under the venv's share/man.
    assert os.path.exists(os.path.join(str(venv), "share", "man", "man1", "codegreen-run.1"))
    assert os.path.exists(os.path.join(str(venv), "share", "man", "man3", "nemb.3"))


@pytest.mark.parametrize("python", interpreters())
def test_pip_install_from_source(python, tmp_path, sim_env):
    env = clean_env(sim_env)
    venv = tmp_path / "venv"
    vpy = make_venv(python, venv, env)
    give_build_backend(vpy, env)
    r = subprocess.run([vpy, "-m", "pip", "install", "--no-build-isolation", "--no-index", ROOT],
                       env=env, cwd=str(tmp_path), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=BUILD_TIMEOUT)
    assert r.returncode == 0, r.stdout[-5000:]
    check_installed(venv, vpy, env, tmp_path)


def test_wheel_built_once_installs_elsewhere(tmp_path, sim_env):
    pythons = interpreters()
    if not pythons:
        pytest.skip("no interpreter")
    env = clean_env(sim_env)
    builder = make_venv(pythons[0], tmp_path / "builder", env)
    give_build_backend(builder, env)
    dist = tmp_path / "dist"
    r = subprocess.run([builder, "-m", "pip", "wheel", "--no-build-isolation", "--no-index",
                        "--no-deps", "-w", str(dist), ROOT], env=env, cwd=str(tmp_path),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=BUILD_TIMEOUT)
    assert r.returncode == 0, r.stdout[-5000:]
    wheels = glob.glob(str(dist / "codegreen-*.whl"))
    assert len(wheels) == 1, wheels
    wheel = wheels[0]
    tags = os.path.basename(wheel)[:-4].split("-")[2:]  # python, abi, platform
    # A target interpreter the tag admits must install it; another must be refused.
    for i, python in enumerate(pythons):
        vdir = tmp_path / ("target%d" % i)
        vpy = make_venv(python, vdir, env)
        major_minor = version_of(python).rsplit(".", 1)[0].replace(".", "")
        if tags[1] == "abi3":
            admitted = int(major_minor) >= int(tags[0][2:])
        elif tags[1] == "none":
            admitted = True
        else:
            admitted = tags[0] == "cp" + major_minor
        r = subprocess.run([vpy, "-m", "pip", "install", "--no-index", wheel], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=600)
        if not admitted:
            assert r.returncode != 0 and "is not a supported wheel" in r.stdout, r.stdout
            continue
        assert r.returncode == 0, r.stdout
        check_installed(vdir, vpy, env, tmp_path)
