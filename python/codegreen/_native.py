"""Loading libcodegreen-nemb.so with ctypes: the one place that knows the C API's signatures.

Search order: ``CODEGREEN_LIB_PATH`` (a file, or a directory holding the library; when it is set
it is the only place looked at, so a test or a user can pin the exact build), then the package's
``lib/`` and own directory (what ``pip install`` lays out), then the system's library path
(``libcodegreen-nemb.so.0`` through the dynamic loader, as ``cmake --install`` leaves it).

At load, ``nemb_abi_version()`` must be 3. Anything else, or no library at all, leaves
``load()`` returning ``None`` and ``load_error()`` saying why: callers degrade to measuring
nothing rather than failing the program.
"""

import ctypes
import ctypes.util
import importlib.machinery
import importlib.util
import os
import threading

ABI_VERSION = 3
LIB_NAMES = ("libcodegreen-nemb.so", "libcodegreen-nemb.so.0")

# nemb_output_format
FORMAT_AUTO, FORMAT_JSON, FORMAT_CSV, FORMAT_NONE = 0, 1, 2, 3
# nemb.h's NEMB_INTERVAL_MS_MIN and NEMB_INTERVAL_MS_MAX (tests/test_one_source.py holds them equal).
INTERVAL_MS_MIN, INTERVAL_MS_MAX = 1, 60000

# Error codes the fronts tell apart (nemb.h NEMB_ERRNO_MAP).
NEMB_EINVAL = -22
NEMB_ESTATE = -4005
NEMB_ENOTSUP = -4003


class SessionOptions(ctypes.Structure):
    """``nemb_session_options`` from nemb.h, field for field."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("output_file", ctypes.c_char_p),
        ("output_format", ctypes.c_int),
        ("save_to_file", ctypes.c_int),
        ("record_time_series", ctypes.c_int),
        ("sample_interval_ms", ctypes.c_uint),
        ("buffer_samples", ctypes.c_size_t),
        ("python_version", ctypes.c_char_p),
        ("argv", ctypes.POINTER(ctypes.c_char_p)),
        ("argc", ctypes.c_size_t),
        ("config", ctypes.c_void_p),
        ("exclusive", ctypes.c_int),
    ]


_P = ctypes.c_void_p
_S = ctypes.c_char_p
_I = ctypes.c_int

# name: (restype, argtypes). Functions marked hot are also bound through a PyDLL handle, which
# keeps the GIL: for calls this short, releasing it costs more than the call.
_SIGNATURES = {
    "nemb_abi_version": (_I, []),
    "nemb_version_string": (_S, []),
    "nemb_last_error": (_S, []),
    "nemb_strerror": (_S, [_I]),
    "nemb_err_name": (_S, [_I]),
    "nemb_session_options_init": (None, [ctypes.POINTER(SessionOptions)]),
    "nemb_session_begin": (_I, [ctypes.POINTER(SessionOptions), ctypes.POINTER(_P)]),
    "nemb_session_end": (_I, [_P]),
    "nemb_session_destroy": (None, [_P]),
    "nemb_session_report_json": (_S, [_P]),
    "nemb_session_output_path": (_S, [_P]),
    "nemb_session_set_timeseries_layout": (_I, [_P, _S]),
    "nemb_session_write": (_I, [_P, _S, _I]),
    "nemb_task_start": (_I, [_P, _S]),
    "nemb_task_stop": (_I, [_P, _S]),
    "nemb_task_current": (_S, [_P]),
    "nemb_checkpoint": (_I, [_P, _S, _S, _S, _I, _S]),
    "nemb_checkpoint_register": (_I, [_P, _S, _S, _I, ctypes.POINTER(ctypes.c_uint32)]),
    "nemb_checkpoint_inherit": (_I, [_P, _P]),
    "nemb_checkpoint_enter": (_I, [_P, ctypes.c_uint32]),
    "nemb_checkpoint_exit": (_I, [_P, ctypes.c_uint32]),
    "nemb_session_export_plot": (_I, [_P, _S]),
    "nemb_session_push": (_I, [_P, _S, _S]),
    "nemb_procs_path": (_I, [ctypes.c_char_p, ctypes.c_size_t]),
    "nemb_procs_register": (_I, []),
    "nemb_procs_unregister": (_I, []),
    "nemb_procs_list_others": (_I, [ctypes.POINTER(_I), ctypes.c_size_t,
                                    ctypes.POINTER(ctypes.c_size_t)]),
}
# Bound when the library has them (a front newer than the library goes on without them).
_OPTIONAL = {
    "nemb_session_report_summary_json": (_S, [_P]),
    "nemb_session_warnings_json": (_S, [_P]),
    "nemb_task_open": (_I, [_P, _S, _S, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint64),
                            ctypes.POINTER(ctypes.c_uint32)]),
    "nemb_task_close": (_I, [_P, ctypes.c_uint64]),
    "nemb_push_url_check": (_I, [_S, ctypes.c_char_p, ctypes.c_size_t]),
    "nemb_term_guard": (_I, [_I]),
    "nemb_term_guard_seen": (None, []),
    "nemb_term_guard_received": (_I, []),
}
# Optional functions also bound on the PyDLL handle (hot).
_HOT_OPTIONAL = ("nemb_task_open", "nemb_task_close")
_HOT = ("nemb_task_start", "nemb_task_stop", "nemb_checkpoint", "nemb_checkpoint_enter",
        "nemb_checkpoint_exit")


def begin_session(native, name, python_version, argv, exclusive, output_file=None,
                  output_format=FORMAT_AUTO, save_to_file=True, record_time_series=False,
                  sample_interval_ms=0, buffer_samples=0):
    """``nemb_session_begin()`` with these options: the one place Python fills
    ``nemb_session_options`` (``codegreen.Session`` and ``codegreen_runtime`` both begin here).
    ``argv`` None lets the library read the process's command line. Returns ``(rc, handle)``."""
    lib = native.lib
    o = SessionOptions()
    lib.nemb_session_options_init(o)
    keep = []  # the encoded strings stay alive until begin has copied them

    def enc(s):
        b = s.encode("utf-8", "surrogateescape")
        keep.append(b)
        return b

    o.name = enc(name)
    o.output_file = enc(output_file) if output_file is not None else None
    o.output_format = output_format
    o.save_to_file = 1 if save_to_file else 0
    o.record_time_series = 1 if record_time_series else 0
    o.sample_interval_ms = sample_interval_ms or 0
    o.buffer_samples = buffer_samples or 0
    o.python_version = enc(python_version)
    if argv is not None:
        arr = (ctypes.c_char_p * (len(argv) + 1))(*[enc(a) for a in argv])
        keep.append(arr)
        o.argv = arr
        o.argc = len(argv)
    o.exclusive = 1 if exclusive else 0
    handle = ctypes.c_void_p()
    rc = lib.nemb_session_begin(o, handle)
    return rc, handle


class Native(object):
    """The loaded library: ``lib`` (CDLL, releases the GIL), ``hot`` (PyDLL, keeps it), ``path``,
    ``optional`` (the functions of ``_OPTIONAL`` it has)."""

    def __init__(self, path, lib, hot):
        self.path = path
        self.lib = lib
        self.hot = hot
        self.optional = set()  # the names of _OPTIONAL this library has

    def last_error(self):
        msg = self.lib.nemb_last_error()
        return msg.decode("utf-8", "replace") if msg else ""

    def error_text(self, rc):
        """The thread's detailed message, else the code's generic text."""
        msg = self.last_error()
        if msg:
            return msg
        text = self.lib.nemb_strerror(rc)
        return text.decode() if text else "error %d" % rc


_lock = threading.Lock()
_loaded = False
_native = None
_error = None


def _candidates():
    env = os.environ.get("CODEGREEN_LIB_PATH")
    if env:
        if os.path.isdir(env):
            return [os.path.join(env, n) for n in LIB_NAMES]
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    # here/lib: what `pip install` puts in the package (beside bin/codegreen, which uses it too)
    dirs = (os.path.join(here, "lib"), here, os.path.dirname(here))
    found = [os.path.join(d, n) for d in dirs for n in LIB_NAMES
             if os.path.exists(os.path.join(d, n))]
    found.append("libcodegreen-nemb.so.0")  # the dynamic loader's search (ld.so.cache, ...)
    system = ctypes.util.find_library("codegreen-nemb")
    if system:
        found.append(system)
    return found


def _bind(handle, names, table):
    for name in names:
        restype, argtypes = table[name]
        fn = getattr(handle, name)
        fn.restype = restype
        fn.argtypes = argtypes


def _open():
    errors = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append("%s: %s" % (path, e))
            continue
        try:
            lib.nemb_abi_version.restype = ctypes.c_int
            lib.nemb_abi_version.argtypes = []
            abi = lib.nemb_abi_version()
        except AttributeError:
            errors.append("%s: not a codegreen library (no nemb_abi_version)" % path)
            continue
        if abi != ABI_VERSION:
            errors.append("%s: ABI version %d, this package needs %d" % (path, abi, ABI_VERSION))
            continue
        try:
            _bind(lib, _SIGNATURES, _SIGNATURES)
            hot = ctypes.PyDLL(path)
            _bind(hot, _HOT, _SIGNATURES)
        except (AttributeError, OSError) as e:
            errors.append("%s: %s" % (path, e))
            continue
        native = Native(path, lib, hot)
        for name in _OPTIONAL:
            try:
                _bind(lib, (name,), _OPTIONAL)
                if name in _HOT_OPTIONAL:
                    _bind(hot, (name,), _OPTIONAL)
            except AttributeError:
                continue
            native.optional.add(name)
        return native, None
    if os.environ.get("CODEGREEN_LIB_PATH"):
        where = "CODEGREEN_LIB_PATH"
    else:
        where = "the package directory or the system library path"
    return None, "libcodegreen-nemb.so could not be loaded from %s (%s)" % (
        where, "; ".join(errors) or "not found")


def load():
    """The loaded library (a ``Native``), or None when it cannot be loaded. Loads once."""
    global _loaded, _native, _error
    if not _loaded:
        with _lock:
            if not _loaded:
                _native, _error = _open()
                _loaded = True
    return _native


def load_error():
    """Why ``load()`` returned None, or None."""
    load()
    return _error


def load_extension(native, refuse_env="CODEGREEN_RUNTIME_CTYPES"):
    """The ``_codegreen_fast`` CPython module built beside the library (or installed in the
    package), or None. ``refuse_env`` (CODEGREEN_RUNTIME_CTYPES unless told) set to 1 refuses it,
    to exercise the fallback; None: never refused here."""
    if refuse_env and os.environ.get(refuse_env, "") not in ("", "0"):
        return None
    dirs = [os.path.dirname(os.path.abspath(__file__))]
    if native is not None and os.path.isabs(native.path):
        dirs.insert(0, os.path.dirname(native.path))
    for d in dirs:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(d, "_codegreen_fast" + suffix)
            if not os.path.exists(path):
                continue
            try:
                spec = importlib.util.spec_from_file_location("_codegreen_fast", path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                return module
            except (ImportError, OSError):
                continue
    return None


def function_address(fn):
    """The address of a ctypes function, for handing to the extension."""
    return ctypes.cast(fn, ctypes.c_void_p).value
