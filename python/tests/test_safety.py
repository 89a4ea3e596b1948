"""Issue 11 on the Python side: a refused process registry is said, not taken for "no other
process"; buffer_samples' floor; the runtime's report on SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest

from conftest import PYDIR

import codegreen


def registry_path():
    return os.path.join(os.environ["XDG_RUNTIME_DIR"], "codegreen-%d.pids" % os.geteuid())


def test_refused_registry_is_warned_not_silent(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("")
    os.symlink(target, registry_path())  # a planted link: the library refuses the registry
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        s = codegreen.Session("r", save_to_file=False)
    msgs = [str(x.message) for x in w if issubclass(x.category, UserWarning)]
    assert any("cannot tell whether other codegreen processes are measuring" in m and
               registry_path() in m for m in msgs), msgs
    s.start()
    s.stop()


def test_buffer_samples_floor_is_the_configs():
    with pytest.raises(ValueError, match="buffer_samples must be between 1000 and"):
        codegreen.Session("b", buffer_samples=1)


def test_runtime_reports_on_sigterm_then_dies_of_it(tmp_path):
    out = tmp_path / "result.json"
    ready = tmp_path / "ready"
    code = ("import time, codegreen_runtime as cg\n"
            "f = cg.register('waits', 'x.py', 1)\n"
            "cg.enter(f)\n"
            "open(%r, 'w').close()\n"
            "time.sleep(60)\n" % str(ready))
    env = dict(os.environ, PYTHONPATH=PYDIR, CODEGREEN_RESULT_FILE=str(out))
    p = subprocess.Popen([sys.executable, "-c", code], env=env)
    for _ in range(1200):
        if ready.exists():
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    assert p.wait(60) == -signal.SIGTERM  # re-raised: it died of the signal
    report = json.loads(out.read_text())
    ids = [m["checkpoint_id"] for m in report["checkpoints"]["measurements"]]
    assert ids and ids[0].startswith("enter:"), ids


def _extension_built():
    lib = os.environ["CODEGREEN_LIB_PATH"]
    d = os.path.dirname(lib) if not os.path.isdir(lib) else lib
    return any(f.startswith("_codegreen_fast") for f in os.listdir(d))


@pytest.mark.parametrize("impl", [pytest.param("extension", marks=pytest.mark.skipif(
    not _extension_built(), reason="_codegreen_fast was not built")), "ctypes"])
def test_runtime_reports_on_a_sigterm_another_thread_takes(tmp_path, impl):
    # The main thread waits on a lock nobody releases; a thread of the program's takes the
    # SIGTERM (the main thread blocks it), so CPython only marks it for the Python handler and
    # nothing interrupts the wait: without codegreen the default action would end the process.
    # The library's guard (nemb_term_guard()) kicks the main thread until the handler runs, and
    # the report is written: on the extension path, and on the ctypes path too (it hung there).
    out = tmp_path / "result.json"
    code = ("import signal, sys, threading, time, codegreen_runtime as cg\n"
            "f = cg.register('waits', 'x.py', 1)\n"
            "cg.enter(f)\n"
            "threading.Thread(target=time.sleep, args=(120,), daemon=True).start()\n"
            "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})\n"
            "lock = threading.Lock()\n"
            "lock.acquire()\n"
            "print(cg.IMPLEMENTATION, flush=True)\n"
            "lock.acquire()\n")
    env = dict(os.environ, PYTHONPATH=PYDIR, CODEGREEN_RESULT_FILE=str(out))
    if impl == "ctypes":
        env["CODEGREEN_RUNTIME_CTYPES"] = "1"
    p = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                         universal_newlines=True)
    try:
        assert p.stdout.readline().strip() == impl  # then it waits on the lock:
        stat = "/proc/%d/task/%d/stat" % (p.pid, p.pid)  # its main thread's
        for _ in range(1200):
            with open(stat) as f:
                if f.read().rpartition(")")[2].split()[0] == "S":  # asleep, in the wait
                    break
            time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == -signal.SIGTERM  # re-raised: it died of the signal
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    report = json.loads(out.read_text())
    assert report["python_hot_path"] == impl
    ids = [m["checkpoint_id"] for m in report["checkpoints"]["measurements"]]
    assert ids and ids[0].startswith("enter:"), ids
