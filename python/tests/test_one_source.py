"""One place for each rule (issue 15): what Python repeats of the library is checked against it."""

import ctypes
import os
import re

import pytest

from codegreen import _native
from codegreen import report as _report


def _lib():
    path = os.environ["CODEGREEN_LIB_PATH"]
    if not os.path.exists(path):
        pytest.skip("no build of the library at %s" % path)
    return ctypes.CDLL(path)


def test_source_words_are_the_librarys():
    fn = _lib().nemb_energy_source_words
    fn.restype = ctypes.c_char_p
    fn.argtypes = [ctypes.c_char_p]
    for word in ("measured", "estimated", "simulated", "none", "something-else", None):
        c = fn(word.encode() if word is not None else None).decode()
        assert _report.source_words(word) == c, word


def _header_define(name):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "include", "nemb.h")) as f:
        m = re.search(r"^#define %s (\d+)$" % name, f.read(), re.M)
    assert m, name
    return int(m.group(1)), root


def test_interval_range_is_the_headers():
    lo, root = _header_define("NEMB_INTERVAL_MS_MIN")
    hi, _ = _header_define("NEMB_INTERVAL_MS_MAX")
    assert (_native.INTERVAL_MS_MIN, _native.INTERVAL_MS_MAX) == (lo, hi)
    with open(os.path.join(root, "java", "codegreen", "runtime", "Session.java")) as f:
        assert "static final int INTERVAL_MS_MAX = %d;" % hi in f.read()


def test_one_version():
    """nemb.h's macros are the version; CMake, setup.py, the library and Python all say it."""
    major, root = _header_define("NEMB_VERSION_MAJOR")
    minor, _ = _header_define("NEMB_VERSION_MINOR")
    patch, _ = _header_define("NEMB_VERSION_PATCH")
    want = "%d.%d.%d" % (major, minor, patch)
    import codegreen
    assert codegreen.__version__ == want
    fn = _lib().nemb_version_string
    fn.restype = ctypes.c_char_p
    assert fn().decode() == want
    with open(os.path.join(root, "CMakeLists.txt")) as f:
        text = f.read()
    assert re.search(r"^project\(codegreen VERSION \$\{_v_MAJOR\}", text, re.M), \
        "CMake must read the version from nemb.h"
    for name in ("CMakeLists.txt", "setup.py", os.path.join("python", "codegreen_runtime.py")):
        with open(os.path.join(root, name)) as f:
            assert want not in f.read(), "%s repeats the version %s" % (name, want)


def test_session_options_mirror_matches_the_c_struct(tmp_path):
    """_native.SessionOptions has nemb_session_options' size and each field's offset, as a C
    compiler lays the struct out from nemb.h."""
    import shutil
    import subprocess
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler to lay out nemb_session_options")
    _, root = _header_define("NEMB_VERSION_MAJOR")
    fields = [f[0] for f in _native.SessionOptions._fields_]
    probe = tmp_path / "probe.c"
    probe.write_text(
        "#include <stddef.h>\n#include <stdio.h>\n#include \"nemb.h\"\n"
        "int main(void) {\n  printf(\"size %zu\\n\", sizeof(nemb_session_options));\n" +
        "".join("  printf(\"%s %%zu\\n\", offsetof(nemb_session_options, %s));\n" % (f, f)
                for f in fields) + "  return 0;\n}\n")
    exe = tmp_path / "probe"
    subprocess.run([cc, "-std=c11", "-I", os.path.join(root, "include"), "-o", str(exe),
                    str(probe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    c = dict((k, int(v)) for k, v in (line.split() for line in out.splitlines()))
    assert c.pop("size") == ctypes.sizeof(_native.SessionOptions)
    assert c == dict((f, getattr(_native.SessionOptions, f).offset) for f in fields)


def test_error_codes_python_tells_apart_are_the_librarys():
    lib = _lib()
    lib.nemb_err_name.restype = ctypes.c_char_p
    lib.nemb_err_name.argtypes = [ctypes.c_int]
    assert lib.nemb_err_name(_native.NEMB_EINVAL) == b"EINVAL"
    assert lib.nemb_err_name(_native.NEMB_ESTATE) == b"ESTATE"
    assert lib.nemb_err_name(_native.NEMB_ENOTSUP) == b"ENOTSUP"
