"""The one Python file writer (codegreen/_files.py) and its users (codegreen_runtime's result,
the fallback report, Session.write): whole files or none, devices and FIFOs written in place and
never replaced, the old file kept on failure, real errnos."""

import errno
import os
import resource
import signal
import stat
import subprocess
import sys

import pytest

from conftest import PYDIR

from codegreen import _files


@pytest.fixture
def d(tmp_path):
    """An empty directory of the test's own (tmp_path also holds the registry directory)."""
    p = tmp_path / "d"
    p.mkdir()
    return p


def listing(d):
    return sorted(os.listdir(d))


def test_regular_file_replaced_whole_with_its_mode(d):
    p = d / "r.json"
    _files.write_text(p, "first\n")
    os.chmod(p, 0o640)
    _files.write_text(p, "second\n")
    assert p.read_text() == "second\n"
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o640
    assert listing(d) == ["r.json"]


def test_failed_write_keeps_the_old_file_and_no_temporary(d):
    p = d / "keep.json"
    _files.write_text(p, '{"good": true}\n')
    # A file-size limit fails the write past 100 bytes (EFBIG), as a full disk would (ENOSPC).
    code = ("import resource, signal, sys\n"
            "sys.path.insert(0, %r)\n"
            "from codegreen import _files\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (100, resource.getrlimit("
            "resource.RLIMIT_FSIZE)[1]))\n"
            "try:\n"
            "    _files.write_text(%r, 'x' * 8192)\n"
            "except OSError as e:\n"
            "    print(e.errno)\n" % (PYDIR, str(p)))
    out = subprocess.check_output([sys.executable, "-c", code], universal_newlines=True)
    assert int(out) == errno.EFBIG
    assert p.read_text() == '{"good": true}\n'
    assert listing(d) == ["keep.json"]


def test_fifo_written_in_place(d):
    p = d / "fifo"
    os.mkfifo(p)
    rd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    try:
        _files.write_text(p, "through")
        assert os.read(rd, 100) == b"through"
    finally:
        os.close(rd)
    assert stat.S_ISFIFO(os.lstat(p).st_mode)
    assert listing(d) == ["fifo"]


def test_symlink_followed_and_kept(d):
    (d / "link.json").symlink_to("real.json")
    _files.write_text(d / "link.json", "one")
    _files.write_text(d / "link.json", "two")
    assert (d / "real.json").read_text() == "two"
    assert os.path.islink(d / "link.json")
    assert listing(d) == ["link.json", "real.json"]


def test_directory_refused_with_its_errno(d):
    with pytest.raises(IsADirectoryError):
        _files.write_text(d, "x")
    with pytest.raises(FileNotFoundError):
        _files.write_text(d / "no" / "r.json", "x")


def test_runtime_result_to_a_device_keeps_the_device(tmp_path, run_py):
    """The repro of issue 11: CODEGREEN_RESULT_FILE naming a character device (a /dev/null twin
    in the test's own directory) must leave it a device."""
    node = tmp_path / "mynull"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root (CI runs as root)")
    run_py("import codegreen_runtime", env={"CODEGREEN_RESULT_FILE": str(node)})
    st = os.lstat(node)
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3


def test_runtime_result_file_is_whole_json(tmp_path, run_py):
    out = tmp_path / "result.json"
    run_py("import codegreen_runtime as cg\nf = cg.register('f', 'x.py', 1)\n"
           "cg.enter(f); cg.exit(f)\n", env={"CODEGREEN_RESULT_FILE": str(out)})
    import json
    report = json.loads(out.read_text())
    assert [m["checkpoint_id"].split(":")[0] for m in report["checkpoints"]["measurements"]] == \
        ["enter", "exit"]
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_session_write_errors_carry_the_real_errno(tmp_path):
    import codegreen
    with codegreen.Session("w", save_to_file=False, warn_on_concurrent=False) as s:
        pass
    with pytest.raises(OSError) as e:
        s.write(str(tmp_path))
    assert e.value.errno == errno.EISDIR
    assert str(tmp_path) in str(e.value)
    node = tmp_path / "myfull"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 7))  # a /dev/full twin
    except PermissionError:
        return
    with pytest.raises(OSError) as e:
        s.write(str(node))
    assert e.value.errno == errno.ENOSPC
