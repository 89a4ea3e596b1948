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
