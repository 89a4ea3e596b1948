"""The process registry seen from Python (the C side has tests/unit/test_procs.c), and the
installed layout: `cmake --install` makes `import codegreen` work with no variable set."""

import glob
import os
import shutil
import subprocess
import sys

import pytest

import codegreen

PYDIR = os.path.dirname(os.path.dirname(os.path.abspath(codegreen.__file__)))


def registry_path():
    return os.path.join(os.environ["XDG_RUNTIME_DIR"], "codegreen-%d.pids" % os.geteuid())


def registered_pids():
    try:
        with open(registry_path()) as f:
            return [int(line.split()[0]) for line in f]
    except FileNotFoundError:
        return []


def test_runtime_registers_while_it_measures(sim_env, tmp_path):
    env = dict(os.environ, PYTHONPATH=PYDIR, CODEGREEN_RESULT_FILE=str(tmp_path / "result.json"))
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, codegreen_runtime as cg\n"
         "cg.register('f', 'x.py', 1)\n"
         "print('ready', flush=True)\n"
         "sys.stdin.readline()\n"],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, universal_newlines=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        assert codegreen.other_processes() == [child.pid]
        assert os.stat(registry_path()).st_mode & 0o777 == 0o600
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    # It unregistered at exit: nothing left, not even a stale line.
    assert registered_pids() == []
    assert codegreen.other_processes() == []


def test_session_survives_a_broken_registry(sim_env):
    # A directory where the file should be: registration fails, measuring does not.
    os.mkdir(registry_path())
    with codegreen.Session("reg", save_to_file=False) as s:
        with s.task("t"):
            pass
    assert s.report["tasks"][0]["name"] == "t"
    assert codegreen.other_processes() == []
    os.rmdir(registry_path())


def test_garbage_in_the_registry_is_cleaned(sim_env):
    with open(registry_path(), "w") as f:
        f.write("not a pid\n999999999 1\n\x00\x01\n")
    os.chmod(registry_path(), 0o644)
    assert codegreen.other_processes() == []
    assert open(registry_path()).read() == ""
    assert os.stat(registry_path()).st_mode & 0o777 == 0o600


def test_cmake_install_layout(tmp_path, sim_env):
    lib = os.environ["CODEGREEN_LIB_PATH"]
    build = os.path.dirname(os.path.dirname(lib))
    if not os.path.exists(os.path.join(build, "cmake_install.cmake")) or not shutil.which("cmake"):
        pytest.skip("no CMake build directory beside the library")
    prefix = tmp_path / "prefix"
    subprocess.check_call(["cmake", "--install", build, "--prefix", str(prefix)],
                          stdout=subprocess.DEVNULL)
    sites = glob.glob(str(prefix / "lib" / "python3*" / "*-packages"))
    assert len(sites) == 1, sites
    site = sites[0]
    assert os.path.exists(os.path.join(site, "codegreen", "__init__.py"))
    assert os.path.exists(os.path.join(site, "codegreen_runtime.py"))
    env = dict(os.environ, PYTHONPATH=site,
               LD_LIBRARY_PATH=str(prefix / "lib"),  # what ldconfig gives an installed library
               CODEGREEN_RESULT_FILE=str(tmp_path / "result.json"))
    env.pop("CODEGREEN_LIB_PATH")
    code = ("import time, codegreen, codegreen_runtime as cg\n"
            "print(codegreen.__file__)\n"
            "print(codegreen.native_library())\n"
            "print(cg.IMPLEMENTATION)\n"
            "with codegreen.Session('installed', save_to_file=False) as s:\n"
            "    with s.task('t'): time.sleep(0.05)\n"
            "print(s.report['meta']['measurement_quality'])\n")
    out = subprocess.check_output([sys.executable, "-c", code], env=env, cwd=str(tmp_path),
                                  universal_newlines=True).split()
    assert out[0].startswith(site)
    assert out[1] == "libcodegreen-nemb.so.0"  # found by the dynamic loader
    built_ext = glob.glob(os.path.join(os.path.dirname(lib), "_codegreen_fast*"))
    assert out[2] == ("extension" if built_ext else "ctypes")
    assert out[3] == "ok"
