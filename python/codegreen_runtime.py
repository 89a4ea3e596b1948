"""codegreen_runtime: what instrumented code imports (``codegreen measure`` puts it on PYTHONPATH).

The reference's two functions, over the C library's checkpoint API::

    checkpoint(checkpoint_id, name, checkpoint_type)        # "enter" or "exit"
    measure_checkpoint(checkpoint_id, checkpoint_type, name, line_number, context)

and the fast path the instrumenter emits, which passes a number instead of strings::

    fid = register(name, context, line)   # once per function
    enter(fid) ... exit(fid)              # per call

The session begins on first use (non-exclusive, so a ``codegreen.Session`` in the same program
runs beside it; no file of its own) and ends at exit, when the runtime

- writes the whole report JSON (with ``functions`` and ``checkpoints``) to
  ``$CODEGREEN_RESULT_FILE`` and prints nothing, when that variable is set (the CLI's way: the
  program's own stdout stays untouched); else
- prints the reference's block to stdout::

      --- CODEGREEN_RESULT_START ---
      {"measurements": [{"checkpoint_id": ..., "timestamp": ..., "joules": ..., "watts": ...}]}
      --- CODEGREEN_RESULT_END ---

The hot path is the ``_codegreen_fast`` C extension when it was built (see ``IMPLEMENTATION``);
otherwise ctypes. In a forked child every call does nothing and nothing is written at exit; without
the native library, likewise, after one warning (and an empty result at exit).
"""

import atexit
import os
import sys
import threading
import warnings

from codegreen import _native

__all__ = ["checkpoint", "measure_checkpoint", "register", "enter", "exit", "IMPLEMENTATION"]

RESULT_START = "--- CODEGREEN_RESULT_START ---"
RESULT_END = "--- CODEGREEN_RESULT_END ---"

_lock = threading.RLock()
_lib = _native.load()
_state = "unstarted"  # -> "active" -> "ended"; or "disabled" (no library, forked child)
_handle = None         # the C session (ctypes c_void_p) once begun
_sp = None             # the same, for the ctypes hot path; None makes every call a no-op
_registered = False    # in the process registry
_forked = False        # this process is a forked child of the one that began the session
_fast = _native.load_extension(_lib) if _lib is not None else None

#: "extension" (the C module) or "ctypes": which hot path this process uses.
IMPLEMENTATION = "extension" if _fast is not None else "ctypes"

if _lib is not None:
    _c_enter = _lib.hot.nemb_checkpoint_enter
    _c_exit = _lib.hot.nemb_checkpoint_exit
    _c_checkpoint = _lib.hot.nemb_checkpoint


def _session_name():
    argv = getattr(sys, "argv", None) or [""]
    return os.path.basename(argv[0] or "") or "python"


def _start():
    """Begins the runtime's session, once. Safe from any thread."""
    global _state, _handle, _sp, _registered
    with _lock:
        if _state != "unstarted":
            return
        if _lib is None:
            _state = "disabled"
            warnings.warn("codegreen_runtime: %s; checkpoints are not measured"
                          % _native.load_error(), RuntimeWarning, stacklevel=3)
            return
        import platform
        lib = _lib.lib
        o = _native.SessionOptions()
        lib.nemb_session_options_init(o)
        name = _session_name().encode("utf-8", "surrogateescape")
        pyver = platform.python_version().encode()
        o.name = name
        o.save_to_file = 0
        o.output_format = _native.FORMAT_NONE
        o.python_version = pyver
        argv = [a.encode("utf-8", "surrogateescape") for a in getattr(sys, "argv", [])]
        arr = (_native.ctypes.c_char_p * (len(argv) + 1))(*argv)
        o.argv = arr
        o.argc = len(argv)
        o.exclusive = 0  # beside a user's codegreen.Session, if there is one
        handle = _native.ctypes.c_void_p()
        rc = lib.nemb_session_begin(o, handle)
        if rc != 0:
            _state = "disabled"
            warnings.warn("codegreen_runtime: cannot begin a session: %s"
                          % _lib.error_text(rc), RuntimeWarning, stacklevel=3)
            return
        _handle = handle
        _state = "active"
        _registered = lib.nemb_procs_register() == 0
        if _fast is not None:
            addr = _native.function_address
            _fast.init(handle.value, addr(_c_enter), addr(_c_exit), addr(_c_checkpoint))
        _sp = handle


def register(name, context=None, line=0):
    """The id of function ``name`` (defined in ``context``, e.g. the file, at ``line``) for
    ``enter()``/``exit()``: the same for the same three values. Begins the session if needed."""
    if _state == "unstarted":
        _start()
    if _state != "active":
        return 0  # enter/exit do nothing then
    fid = _native.ctypes.c_uint32()
    rc = _lib.lib.nemb_checkpoint_register(
        _handle, str(name).encode("utf-8", "surrogateescape"),
        None if context is None else str(context).encode("utf-8", "surrogateescape"),
        int(line), fid)
    if rc != 0:
        raise RuntimeError("codegreen_runtime.register(%r): %s" % (name, _lib.error_text(rc)))
    return fid.value


# ----- the hot path: ctypes versions, replaced by the extension's when it is there -----

def _invalid(what):
    return ValueError("codegreen_runtime.%s: invalid argument (an unknown function id, or a "
                      "checkpoint_type other than 'enter' or 'exit')" % what)


def _bad_id(what, fid):
    return TypeError("codegreen_runtime.%s: the function id must be an int from register(), "
                     "not %s" % (what, type(fid).__name__))


def enter(fid):
    """Entry into the function registered as ``fid``."""
    sp = _sp
    if sp is not None:
        try:
            rc = _c_enter(sp, fid)
        except _native.ctypes.ArgumentError:
            raise _bad_id("enter", fid)
        if rc == _native.NEMB_EINVAL:
            raise _invalid("enter")


def exit(fid):  # noqa: A001 - the instrumenter's name for it
    """Exit from the function registered as ``fid``."""
    sp = _sp
    if sp is not None:
        try:
            rc = _c_exit(sp, fid)
        except _native.ctypes.ArgumentError:
            raise _bad_id("exit", fid)
        if rc == _native.NEMB_EINVAL:
            raise _invalid("exit")


def _text(v):
    if v is None:
        return None
    if not isinstance(v, str):
        v = str(v)
    return v.encode("utf-8", "surrogateescape")


def measure_checkpoint(checkpoint_id, checkpoint_type, name, line_number=0, context=None):
    """Records a checkpoint with its source line and context (``checkpoint_type``: "enter" or
    "exit"; an exit pairs with the latest open enter of ``name`` in the same thread)."""
    if _state != "active":
        if _state == "unstarted":
            _start()
        if _state != "active":
            return
    sp = _sp
    if sp is None:
        return
    rc = _c_checkpoint(sp, _text(checkpoint_id), _text(name), _text(checkpoint_type),
                       int(line_number or 0), _text(context))
    if rc == _native.NEMB_EINVAL:
        raise _invalid("checkpoint")


def checkpoint(checkpoint_id, name, checkpoint_type):
    """Marks a checkpoint in the energy measurement stream (delegates to measure_checkpoint)."""
    measure_checkpoint(checkpoint_id, checkpoint_type, name, 0, None)


if _fast is not None:
    _fast.set_starter(_start)
    enter = _fast.enter  # noqa: F811
    exit = _fast.exit  # noqa: F811
    checkpoint = _fast.checkpoint  # noqa: F811
    measure_checkpoint = _fast.measure_checkpoint  # noqa: F811


# ----- fork and exit -----

def _after_fork_in_child():
    global _state, _sp, _forked
    _forked = True
    _state = "disabled"
    _sp = None
    if _fast is not None:
        _fast.disable()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _write_file(path, text):
    # Rename only onto a regular file or a new path: a device (/dev/null) or other special
    # file named as the destination is written in place, never replaced.
    try:
        import stat
        if not stat.S_ISREG(os.stat(path).st_mode):
            with open(path, "w") as f:
                f.write(text)
            return
    except FileNotFoundError:
        pass
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _result_block(measurements):
    import json
    rows = ",\n".join(json.dumps(m) for m in measurements)
    body = '{"measurements": [\n%s\n]}' % rows if rows else '{"measurements": []}'
    return "%s\n%s\n%s\n" % (RESULT_START, body, RESULT_END)


def _finish():
    """At exit: ends the session and writes the result (see the module docstring)."""
    global _state, _sp
    import json
    with _lock:
        if _forked or _state == "ended":
            return  # a forked child: the parent reports
        if _state == "unstarted" and _lib is not None:
            _start()  # nothing was checkpointed: still give the CLI a (empty) result
        result_file = os.environ.get("CODEGREEN_RESULT_FILE")
        if _lib is None or _state != "active":
            _state = "ended"
            from codegreen import _fallback
            fb = _fallback.FallbackSession(_session_name(), False, list(getattr(sys, "argv", [])),
                                           _native.load_error(), "0.1.0")
            fb.end()
            report = fb.report()
            text = json.dumps(report, indent=2)
        else:
            _state = "ended"
            _sp = None
            if _fast is not None:
                _fast.disable()
            lib = _lib.lib
            lib.nemb_session_end(_handle)
            raw = lib.nemb_session_report_json(_handle)
            text = raw.decode("utf-8") if raw is not None else "{}"
            if _registered:
                lib.nemb_procs_unregister()
            report = None
    try:
        if result_file:
            _write_file(result_file, text + "\n")
            return
        if report is None:
            report = json.loads(text)
        measurements = (report.get("checkpoints") or {}).get("measurements") or []
        sys.stdout.write(_result_block(measurements))
        sys.stdout.flush()
    except (OSError, ValueError) as e:
        sys.stderr.write("codegreen_runtime: cannot write the result: %s\n" % e)


atexit.register(_finish)
