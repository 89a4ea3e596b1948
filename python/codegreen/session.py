"""codegreen.Session: spans of a Python program, measured by libcodegreen-nemb.

A thin front: every task start and stop is one call into the C library, which timestamps it in
the calling thread's own records; at stop the library builds the report (envelope, per-domain
energy, time series, noise statistics) and streams it into the file. Python reads the report's
summary (no series) for what stop() needs with time series, and parses the whole report into ``Session.report``
when it is first used; it adds only what belongs to Python: argument checks, the ``with`` and
decorator forms, warnings, the at-exit and fork guarantees.
"""

import atexit
import contextvars
import ctypes
import functools
import inspect
import json
import os
import platform
import stat
import sys
import threading
import warnings
import weakref

from . import _fallback
from . import _native
from . import report as _report
from .report import Report

__all__ = ["Session", "task", "active_session", "other_processes"]

_FORMATS = {"auto": _native.FORMAT_AUTO, "json": _native.FORMAT_JSON, "csv": _native.FORMAT_CSV,
            "none": _native.FORMAT_NONE}

# The one active Session of this process (started, not stopped), guarded by _lock.
_lock = threading.RLock()
_active = None
# Bumped in a forked child: a Session started under another generation belongs to the parent and
# does nothing in the child (checked on every call without a getpid() system call).
_fork_generation = 0
_warned_no_backend = False
# True in a forked child whose parent had an active Session: the C library's one exclusive slot
# is still taken in the child's copy of it, so the child cannot begin a Session of its own.
_forked_while_active = False


# The open tasks of the running asyncio task (each asyncio task runs in a context of its own, a
# copy of its creator's): None, or (session, id, name as bytes, depth, the node below). In an
# asyncio task other than the one that started the Session (Session._owner_task), tasks are
# opened with nemb_task_open() under this context's innermost one instead of on the thread's
# stack, where coroutines that interleave in one thread would nest in each other and stop out of
# order. The Session's own asyncio task (or code outside any) keeps the thread's stack: its code
# runs in sequence, and a notebook's cells keep their speed and their nesting across cells.
_context_tasks = contextvars.ContextVar("codegreen_context_tasks", default=None)


def _running_task():
    """(True, the running asyncio task or None) while an event loop runs in this thread, else
    (False, None). Asyncio is never imported here."""
    events = sys.modules.get("asyncio.events")
    if events is None or events._get_running_loop() is None:
        return False, None
    tasks = sys.modules.get("asyncio.tasks")
    return True, tasks.current_task() if tasks is not None else None


def _after_fork_in_child():
    global _active, _fork_generation, _forked_while_active
    _fork_generation += 1
    _forked_while_active = _forked_while_active or _active is not None
    _active = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def active_session():
    """The Session active in this process, or None."""
    return _active


def _check_bool(value, param):
    if not isinstance(value, bool):
        raise TypeError("%s must be True or False, not %r" % (param, value))
    return value


def _check_str(value, param, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, os.PathLike) and param == "output_file":
        value = os.fspath(value)
    if not isinstance(value, str):
        hint = ""
        if param == "name" and callable(value):
            # @s.task without its name: the bare form is codegreen.task's, not a Session's
            hint = ("; a Session's task decorator takes the task's name: @s.task(\"name\") "
                    "(the bare @codegreen.task names the task after the function)")
        raise TypeError("%s must be a str%s, not %s%s" % (
            param, " or None" if allow_none else "", type(value).__name__, hint))
    if "\0" in value:
        raise ValueError("%s must not contain NUL characters" % param)
    return value


def _check_name(value, what="task"):
    """A Session's (@p what "session") or a task's name: a non-empty str. The library, Java and
    every Python path refuse an empty one alike: a nameless row cannot be told apart."""
    _check_str(value, "name")
    if not value:
        raise ValueError("a %s name must be a non-empty string" % what)
    return value


def _redact_url(url):
    """url as messages show it: a password in the authority becomes *** (http://user:***@host),
    the rule of the library's nemb__push_url_redact (push.h)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min([i for i in (rest.find(c) for c in "/?#") if i >= 0] or [len(rest)])
    at = rest.rfind("@", 0, end)
    colon = rest.find(":", 0, at) if at >= 0 else -1
    if colon < 0:
        return url
    return scheme + sep + rest[:colon + 1] + "***" + rest[at:]


def _check_count(value, param, lo, hi):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int or None, not %s" % (param, type(value).__name__))
    if not lo <= value <= hi:
        raise ValueError("%s must be between %d and %d, not %d" % (param, lo, hi, value))
    return value


def _emit_noise_warnings(report, stacklevel):
    for w in (report.get("totals") or {}).get("noise_warnings") or []:
        cv = w.get("within_task_power_cv_percent")
        msg = ("codegreen: task %r (depth %s) is %s: within-task power CV %s, drop ratio %.3f "
               "(%s)" % (w.get("task"), w.get("depth"), w.get("quality"),
                         "n/a" if cv is None else "%.1f%%" % cv, w.get("drop_ratio") or 0.0,
                         ", ".join(w.get("reasons") or [])))
        warnings.warn(msg, RuntimeWarning, stacklevel=stacklevel)


def _emit_sampler_warnings(sentences, stacklevel):
    """The meter's own warnings (the report's meta.sampler.warnings, worded by the library as
    `codegreen run` and `measure` print them), one RuntimeWarning each."""
    for text in sentences:
        warnings.warn("codegreen: " + text, RuntimeWarning, stacklevel=stacklevel)


class _Ended(object):
    """The C session after stop(), freed when neither its Session nor a report not yet parsed
    (_LazyReport, which builds its text from it) holds it. Never freed in a forked child."""

    __slots__ = ("native", "handle", "pid")

    def __init__(self, native, handle):
        self.native = native
        self.handle = handle
        self.pid = os.getpid()

    def report_text(self):
        """The report's whole JSON text (bytes), built by the library on first call; None when
        it could not be (out of memory)."""
        return self.native.lib.nemb_session_report_json(self.handle)

    def __del__(self):
        try:
            if self.handle is not None and self.pid == os.getpid():
                handle, self.handle = self.handle, None
                self.native.lib.nemb_session_destroy(handle)
        except Exception:
            pass


class _TaskSpan(object):
    """What ``Session.task(name)`` returns: a context manager, and a decorator bound to the
    session."""

    __slots__ = ("session", "name")

    def __init__(self, session, name):
        self.session = session
        self.name = name

    def __enter__(self):
        self.session.start_task(self.name)
        return self

    def __exit__(self, exc_type, exc, tb):
        self.session._exit_span(self.name)
        return False

    def __call__(self, func):
        session = self.session
        return _wrap(func, self.name, lambda: session, owner=session)


class _SlowPath(object):
    """What a Recorder hands back: the Session's own task methods, through a weak reference
    (the Session holds the Recorder, so a strong one would make a cycle)."""

    __slots__ = ("ref",)

    def __init__(self, ref):
        self.ref = ref

    def _session(self):
        s = self.ref()
        if s is None:
            raise RuntimeError("the codegreen.Session of this task no longer exists")
        return s

    # The arguments pass as they came, so that a wrong call fails as Session's own method does.
    def task(self, *args, **kwargs):
        return Session.task(self._session(), *args, **kwargs)

    def start_task(self, *args, **kwargs):
        return Session.start_task(self._session(), *args, **kwargs)

    def stop_task(self, *args, **kwargs):
        return Session.stop_task(self._session(), *args, **kwargs)

    def exit_span(self, name):
        return Session._exit_span(self._session(), name)


_extension = []  # [module or None], once looked for (by the first Session that starts)


def _session_extension(native):
    """The _codegreen_fast module for Session task boundaries, or None (not built, too old to
    have Recorder and TaskCall, or refused with ``CODEGREEN_SESSION_CTYPES=1``)."""
    if os.environ.get("CODEGREEN_SESSION_CTYPES", "") not in ("", "0"):
        return None
    if not _extension:
        module = _native.load_extension(native, refuse_env=None)
        _extension.append(module if hasattr(module, "TaskCall") else None)
    return _extension[0]


def _task_caller(func, name, owner, slow):
    """The extension's TaskCall for a @codegreen.task function, or None: no Session has looked
    for the extension yet, it is missing, or ``CODEGREEN_SESSION_CTYPES=1`` refuses it."""
    if not _extension or _extension[0] is None:
        return None
    if os.environ.get("CODEGREEN_SESSION_CTYPES", "") not in ("", "0"):
        return None
    return _extension[0].TaskCall(func, name, owner, slow)


def _no_zst(path, then="the report is in Session.report"):
    """Without the library a .zst file cannot be written: zstd is the library's (libzstd), and
    this interpreter's standard library has none."""
    return RuntimeError("cannot write the report to %s: a .zst file is compressed by the "
                        "codegreen library, which could not be loaded (%s); %s" % (
                            path, _native.load_error(), then))


class Session(object):
    """Measures named, nested spans ("tasks") of a program's run. See the package docstring."""

    def __init__(self, name="default", output_file=None, output_format="auto", save_to_file=True,
                 warn_on_concurrent=True, record_time_series=False, buffer_samples=None,
                 sample_interval_ms=None, sampling_mode="fixed", push_url=None,
                 timeseries_layout=None):
        self.name = _check_name(name, "session")
        self._output_file = _check_str(output_file, "output_file", allow_none=True)
        if self._output_file == "":
            raise ValueError("output_file must not be empty (None means codegreen_<pid>.json)")
        fmt = _check_str(output_format, "output_format")
        if fmt.lower() not in _FORMATS:
            raise ValueError("output_format must be one of 'auto', 'json', 'csv', 'none', not %r"
                             % output_format)
        self._output_format = fmt.lower()
        self._save_to_file = _check_bool(save_to_file, "save_to_file")
        self._warn_on_concurrent = _check_bool(warn_on_concurrent, "warn_on_concurrent")
        self._record_time_series = _check_bool(record_time_series, "record_time_series")
        # None: the config's measurement.report.timeseries_layout (normally "samples").
        self._timeseries_layout = _check_str(timeseries_layout, "timeseries_layout",
                                             allow_none=True)
        if self._timeseries_layout not in (None,) + _report.TIMESERIES_LAYOUTS:
            raise ValueError("timeseries_layout must be one of %s, not %r" % (
                ", ".join(repr(x) for x in _report.TIMESERIES_LAYOUTS), timeseries_layout))
        # The floor is the library's (NEMB__MIN_BUFFER_SAMPLES, coordinator.max_samples' minimum).
        self._buffer_samples = _check_count(buffer_samples, "buffer_samples", 1000, 10 ** 9)
        self._sample_interval_ms = _check_count(sample_interval_ms, "sample_interval_ms",
                                                _native.INTERVAL_MS_MIN, _native.INTERVAL_MS_MAX)
        mode = _check_str(sampling_mode, "sampling_mode")
        if mode == "adaptive":
            raise ValueError("sampling_mode='adaptive' is reserved for a future runtime "
                             "rate-control mode; only sampling_mode='fixed' is implemented")
        if mode != "fixed":
            raise ValueError("sampling_mode must be 'fixed', not %r" % sampling_mode)
        self.sampling_mode = mode
        # A Prometheus Pushgateway ("http://host:9091") that receives the totals at stop().
        self._push_url = _check_str(push_url, "push_url", allow_none=True)

        self._state = "new"  # new -> active -> stopped
        self._handle = None   # the C session (a ctypes c_void_p)
        self._recorder = None  # _codegreen_fast.Recorder while active, when the extension loads
        #: "extension" while task(), start_task() and stop_task() go through _codegreen_fast,
        #: else "ctypes".
        self._hot_path = "ctypes"
        # True when task boundaries inside an asyncio event loop go through nemb_task_open()
        # (the library has it, or the no-library fallback: see _context_tasks).
        self._loose = False
        self._owner_task = None  # the asyncio task that started the Session, or None
        self._open_loose = {}  # id -> (name, thread ident): the tasks open in asyncio tasks
        self._fallback = None
        self._report = None    # Report, or _LazyReport until first used
        self._summary = None   # the report without its series (a dict): what stop() reads
        self._sampler_warnings = []  # meta.sampler.warnings, raised by stop() as RuntimeWarnings
        self._ended = None     # _Ended: the C session after stop()
        self._output_path = None
        self._registered = False
        self._generation = _fork_generation
        self._pid = os.getpid()

        with _lock:
            if _active is not None:
                raise RuntimeError(
                    "another codegreen.Session (%r) is already active in this process; stop it "
                    "first (one at a time: RAPL counters are machine-wide)" % _active.name)
        self._native = _native.load()
        self._check_push_url()
        if self._native is None:
            _warn_no_backend()
        elif self._warn_on_concurrent:
            _warn_if_concurrent(self._native, stacklevel=3)

    # ----- properties -----

    @property
    def report(self):
        """The report as a dict, identical to the written JSON file; None until stop(). It is
        parsed when first used, not by stop() (an hour's series is hundreds of MB, a million
        tasks' details megabytes)."""
        return self._report

    @property
    def output_path(self):
        """The absolute path the report was written to (after stop()), or None for no file."""
        return self._output_path

    @property
    def active(self):
        """True between start() and stop()."""
        return self._state == "active"

    @property
    def has_backend(self):
        """False when the native library could not be loaded (every energy is 0)."""
        return self._native is not None

    def __repr__(self):
        return "<codegreen.Session %r %s>" % (self.name, self._state)

    # ----- the session -----

    def start(self):
        """Begins measuring. Returns self."""
        global _active
        with _lock:
            if self._state == "active":
                raise RuntimeError("codegreen.Session %r is already started" % self.name)
            if self._state == "stopped":
                raise RuntimeError("codegreen.Session %r was stopped; a Session runs once: "
                                   "create a new one" % self.name)
            if _active is not None:
                raise RuntimeError(
                    "another codegreen.Session (%r) is already active in this process; stop it "
                    "first (one at a time: RAPL counters are machine-wide)" % _active.name)
            self._owner_task = _running_task()[1]
            if self._native is not None:
                self._begin_native()
                self._loose = "nemb_task_open" in self._native.optional
                self._install_recorder()
            else:
                self._loose = True
                self._check_fallback_output()
                self._fallback = _fallback.FallbackSession(
                    self.name, self._record_time_series, list(getattr(sys, "argv", [])),
                    _native.load_error(), _version(),
                    columnar=self._timeseries_layout == "columnar")
            self._state = "active"
            self._generation = _fork_generation
            self._pid = os.getpid()
            _active = self
        if self._native is not None:
            self._registered = self._native.lib.nemb_procs_register() == 0
        return self

    def _begin_native(self):
        rc, handle = _native.begin_session(
            self._native, self.name, platform.python_version(), getattr(sys, "argv", None),
            exclusive=True, output_file=self._output_file,
            output_format=_FORMATS[self._output_format], save_to_file=self._save_to_file,
            record_time_series=self._record_time_series,
            sample_interval_ms=self._sample_interval_ms, buffer_samples=self._buffer_samples)
        if rc == _native.NEMB_ESTATE:
            what = self._native.error_text(rc)
            if _forked_while_active:
                what += (" (this process was forked while its parent's Session was active; the "
                         "parent's Session is the one that reports)")
            raise RuntimeError(what)
        if rc == _native.NEMB_EINVAL:
            raise ValueError(self._native.error_text(rc))
        if rc != 0:
            raise _os_or_runtime_error(rc, self._native.error_text(rc))
        self._handle = handle
        if self._timeseries_layout is not None:
            rc = self._native.lib.nemb_session_set_timeseries_layout(
                handle, self._timeseries_layout.encode("utf-8"))
            if rc != 0:
                raise ValueError(self._native.error_text(rc))

    def _install_recorder(self):
        """Task boundaries through the C extension while active: its Recorder's task(),
        start_task() and stop_task() shadow the methods below, and @codegreen.task wrappers
        reach it too, calling the library directly (the ctypes functions' own addresses, so
        both use one copy of it) and handing anything unusual back to those methods."""
        fast = _session_extension(self._native)
        if fast is None:
            return
        lib = self._native.lib
        addr = _native.function_address
        try:
            rec = fast.Recorder(self._handle.value, addr(lib.nemb_task_start),
                                addr(lib.nemb_task_stop), addr(lib.nemb_last_error),
                                addr(lib.nemb_strerror), _SlowPath(weakref.ref(self)), self,
                                self._owner_task)
        except (TypeError, ValueError):
            return
        self._recorder = rec
        self.task, self.start_task, self.stop_task = rec.task, rec.start_task, rec.stop_task
        self._hot_path = "extension"

    def _remove_recorder(self):
        if self._recorder is not None:
            self._recorder.disable()
            self._recorder = None
            for name in ("task", "start_task", "stop_task"):
                self.__dict__.pop(name, None)
            self._hot_path = "ctypes"

    def stop(self):
        """Ends the session: closes tasks left open, builds the report and writes the file.
        Returns the report (also kept as ``self.report``). In a forked child, does nothing and
        returns None."""
        return self._stop()

    def _stop(self):
        """stop(), called by stop() or __exit__: its warnings name their caller's caller (the
        program's stop() call or ``with`` statement), four frames up."""
        global _active
        if self._generation != _fork_generation:
            return None
        error = None
        with _lock:  # held until the C session has ended, so the next Session can begin
            if self._state != "active":
                raise RuntimeError("codegreen.Session %r is not active (%s)" % (
                    self.name, "never started" if self._state == "new" else "already stopped"))
            self._remove_recorder()  # first: from here every task call sees the Python state
            self._state = "stopped"
            if self._native is not None:
                error = self._end_native()
            else:
                self._fallback.end()
                self._report = self._summary = Report(self._fallback.report())
                error = self._write_fallback()
            if _active is self:
                _active = None
        _emit_sampler_warnings(self._sampler_warnings, stacklevel=4)
        if self._summary is not None:
            _emit_noise_warnings(self._summary, stacklevel=4)
        if error is not None:
            raise error
        return self._report

    def _end_native(self):
        """Ends the C session; returns the error to raise (the file could not be written), or
        None. The report is kept either way."""
        lib = self._native.lib
        rc = lib.nemb_session_end(self._handle)
        error = _os_or_runtime_error(rc, self._native.error_text(rc)) if rc != 0 else None
        self._ended = _Ended(self._native, self._handle)
        # What stop() needs (the noise warnings, which exist only with time series) comes from
        # the summary, the report without its series; the whole text is parsed when the report
        # is first used (_LazyReport). Without series stop() needs nothing from the report, and
        # a million tasks' report is megabytes of details: it too is parsed on first use.
        lazy = "nemb_session_report_summary_json" in self._native.optional
        summary = None
        if lazy and self._record_time_series:
            summary = lib.nemb_session_report_summary_json(self._handle)
        if summary is not None:
            self._summary = json.loads(summary)
            self._report = _report._LazyReport(self._summary, self._ended.report_text)
        elif lazy and not self._record_time_series:
            self._report = _report._LazyReport({}, self._ended.report_text)
        else:  # a library older than the summary call, or out of memory for the summary
            text = lib.nemb_session_report_json(self._handle)
            if text is not None:
                self._report = self._summary = Report(json.loads(text))
        self._sampler_warnings = self._read_sampler_warnings()
        path = lib.nemb_session_output_path(self._handle)
        if path and error is None:
            self._output_path = path.decode("utf-8", "surrogateescape")
        if self._registered:
            lib.nemb_procs_unregister()
            self._registered = False
        if self._push_url:
            self._push()
        return error

    def _read_sampler_warnings(self):
        """meta.sampler.warnings, without building the report's text (the library's own call);
        from the summary when the library is older and the summary was read."""
        if "nemb_session_warnings_json" in self._native.optional:
            text = self._native.lib.nemb_session_warnings_json(self._handle)
            return json.loads(text) if text else []
        if self._summary is not None:
            return ((self._summary.get("meta") or {}).get("sampler") or {}).get("warnings") or []
        return []

    def _check_push_url(self):
        """ValueError for a push_url the library would refuse at stop() (nemb_push_url_check: the
        one rule), now, before the work it would measure."""
        if not self._push_url:
            return
        try:  # strict, as _push() sends it: a lone surrogate is refused now, not at stop()
            url = self._push_url.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("push_url: Pushgateway URL %r is not valid UTF-8 text"
                             % _redact_url(self._push_url)) from None
        lib = self._native.lib if self._native is not None else None
        if lib is None or "nemb_push_url_check" not in self._native.optional:
            return
        why = ctypes.create_string_buffer(512)
        if lib.nemb_push_url_check(url, why, len(why)) != 0:
            raise ValueError("push_url: " + why.value.decode("utf-8", "replace"))

    def _push(self):
        """Pushes the totals to the Pushgateway; a failure warns and never breaks the program."""
        rc = self._native.lib.nemb_session_push(self._handle, self._push_url.encode("utf-8"), self.name.encode("utf-8"))
        if rc != 0:
            warnings.warn("codegreen: cannot push to %s: %s" % (
                _redact_url(self._push_url), self._native.error_text(rc)), RuntimeWarning,
                stacklevel=5)

    def _check_fallback_output(self):
        """Without the library a .zst path is refused at start, as the library refuses one it
        cannot compress, not after the workload ran."""
        path = self._output_file
        if path is None or not self._save_to_file or self._output_format == "none":
            return
        if self._output_format == "auto":
            _check_report_extension(path)
        if path.lower().endswith(".zst"):
            raise _no_zst(path, "nothing was measured")

    def _write_fallback(self):
        fmt = self._output_format
        if not self._save_to_file or fmt == "none":
            return None
        path = self._output_file
        if path is None:
            path = "codegreen_%d.%s" % (os.getpid(), "csv" if fmt == "csv" else "json")
        if fmt == "auto":
            fmt = "csv" if path.lower().endswith(".csv") else "json"
        path = os.path.abspath(path)
        try:
            _fallback.write(self._report, path, fmt)
        except OSError as e:
            return OSError(e.errno, "cannot write the report to %s: %s" % (path, e.strerror))
        self._output_path = path
        return None

    def __enter__(self):
        if self._state != "active":
            self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._state == "active" and self._generation == _fork_generation:
            self._stop()
        return False

    def __del__(self):
        # Frees the C session (the report dict lives on in Python). Never in a forked child,
        # whose copy belongs to the parent; quietly skipped at interpreter shutdown.
        try:
            if self._recorder is not None:  # never stopped (a forked child's copy)
                self._recorder.disable()
            handle = self._handle
            if self._ended is not None:
                self._handle = None  # _Ended frees it once an unread report lets it go
            elif handle is not None and self._state == "stopped" and self._pid == os.getpid():
                self._handle = None
                self._native.lib.nemb_session_destroy(handle)
        except Exception:
            pass

    # ----- tasks -----

    def task(self, name):
        """A task span: ``with s.task("load"): ...``, or ``@s.task("load")`` on a function."""
        _check_name(name)
        return _TaskSpan(self, name)

    def start_task(self, name):
        """Starts a task in the calling thread, nested in its innermost open task (in an asyncio
        task other than the one that started the Session: that asyncio task's innermost, see
        _context_tasks)."""
        if self._generation != _fork_generation:
            return
        if self._state != "active":
            _check_name(name)
            raise RuntimeError("cannot start task %r: codegreen.Session %r is not active" % (
                name, self.name))
        if self._fallback is not None:
            _check_name(name)
            if self._in_context():
                self._open_in_context(name, name.encode("utf-8", "surrogateescape"))
                return
            err = self._fallback.task_start(name)
            if err is not None:
                raise RuntimeError(err)
            return
        try:
            b = name.encode("utf-8", "surrogateescape")
        except AttributeError:
            _check_str(name, "name")
            raise
        if not b or b"\0" in b:
            _check_name(name)
        if self._in_context():
            self._open_in_context(name, b)
            return
        rc = self._native.hot.nemb_task_start(self._handle, b)
        if rc != 0:
            raise RuntimeError(self._native.error_text(rc))

    def stop_task(self, name=None):
        """Stops the calling thread's (in another asyncio task than the Session's: that
        task's) innermost task; ``name``, if given, must be its name."""
        if self._generation != _fork_generation:
            return
        if self._state != "active":
            raise RuntimeError("cannot stop task %r: codegreen.Session %r is not active" % (
                name, self.name))
        if self._fallback is not None:
            _check_str(name, "name", allow_none=True)
            if self._in_context() and self._close_in_context(name):
                return
            err = self._fallback.task_stop(name)
            if err is not None and not self._close_orphan(name):
                raise RuntimeError(err)
            return
        if name is None:
            b = None
        else:
            try:
                b = name.encode("utf-8", "surrogateescape")
            except AttributeError:
                _check_str(name, "name")
                raise
            if b"\0" in b:
                _check_str(name, "name")
        if self._in_context() and self._close_in_context(name):
            return
        rc = self._native.hot.nemb_task_stop(self._handle, b)
        if rc != 0:
            msg = self._native.error_text(rc)
            if not self._close_orphan(name):
                raise RuntimeError(msg)

    def _exit_span(self, name):
        """The end of a ``with s.task(name):`` block. A Session stopped while the block ran
        (in this thread or another) already closed the task at its end (``closed_at_end`` in
        the report), so the block ends quietly, as a ``@codegreen.task`` call does."""
        if self._state == "stopped":
            return
        self.stop_task(name)

    def _in_context(self):
        """True when this call's tasks are the running asyncio task's own (see _context_tasks):
        an event loop runs, in an asyncio task other than the Session's, and nemb_task_open() is
        there (or the no-library fallback)."""
        if not self._loose:
            return False
        running, task = _running_task()
        return running and task is not self._owner_task

    def _context_top(self):
        """The innermost node of this Session's tasks open in the running context, or None
        (nodes of tasks closed since by _close_orphan() are passed over)."""
        top = _context_tasks.get()
        if top is None or top[0] is not self:
            return None  # nothing open, or left by an earlier Session
        while top is not None and top[1] not in self._open_loose:
            top = top[4]
        return top

    def _open_in_context(self, name, b):
        """Opens task ``name`` (``b``: its UTF-8) in the running asyncio task, nested in that
        task's innermost open one, else in the thread's innermost task."""
        top = self._context_top()
        parent, depth = (None, 0) if top is None else (top[2], top[3] + 1)
        if self._fallback is not None:
            err, task_id, depth = self._fallback.task_open(
                name, None if parent is None else parent.decode("utf-8", "surrogateescape"),
                depth)
            if err is not None:
                raise RuntimeError(err)
        else:
            task_id, got = _native.ctypes.c_uint64(), _native.ctypes.c_uint32()
            rc = self._native.hot.nemb_task_open(self._handle, b, parent, depth,
                                                 _native.ctypes.byref(task_id),
                                                 _native.ctypes.byref(got))
            if rc != 0:
                raise RuntimeError(self._native.error_text(rc))
            task_id, depth = task_id.value, got.value
        self._open_loose[task_id] = (name, threading.get_ident())
        _context_tasks.set((self, task_id, b, depth, top))

    def _close_id(self, task_id):
        if self._fallback is not None:
            err = self._fallback.task_close(task_id)
            if err is not None:
                raise RuntimeError(err)
        else:
            rc = self._native.hot.nemb_task_close(self._handle, task_id)
            if rc != 0:
                raise RuntimeError(self._native.error_text(rc))
        del self._open_loose[task_id]

    def _close_in_context(self, name):
        """Closes the running asyncio task's innermost open task (``name``, if given, must be
        its name). False when that task has none of this Session's open (its tasks are then
        the thread's: begun before the loop ran, or by the Session's own asyncio task)."""
        top = self._context_top()
        if top is None:
            return False
        inner = top[2].decode("utf-8", "surrogateescape")
        if name is not None and name != inner:
            raise RuntimeError("cannot stop task '%s': the innermost open task of this asyncio "
                               "task is '%s'" % (name, inner))
        self._close_id(top[1])
        _context_tasks.set(top[4])
        return True

    def _close_orphan(self, name):
        """A stop the thread's stack could not take: closes the latest task of that name (any,
        for None) that an asyncio task of this thread left open in a context no longer running
        (a notebook's async cell: the next cell runs in another). False when there is none."""
        me = threading.get_ident()
        for task_id in reversed(list(self._open_loose)):
            task_name, ident = self._open_loose[task_id]
            if ident == me and (name is None or name == task_name):
                self._close_id(task_id)
                return True
        return False

    def current_task(self):
        """The innermost open task of the calling thread (in another asyncio task than the
        Session's: of that task, else of the thread), or None."""
        if self._state != "active" or self._generation != _fork_generation:
            return None
        if self._in_context():
            top = self._context_top()
            if top is not None:
                return top[2].decode("utf-8", "surrogateescape")
        if self._fallback is not None:
            return self._fallback.task_current()
        name = self._native.lib.nemb_task_current(self._handle)
        return name.decode("utf-8", "surrogateescape") if name is not None else None

    # ----- outputs -----

    def write(self, path, output_format="auto"):
        """Writes the report again, to ``path`` ("auto": CSV for .csv, JSON for .json, each
        also .zst; another extension is refused with ValueError)."""
        path = _check_str(path, "output_file")
        fmt = _check_str(output_format, "output_format").lower()
        if fmt not in _FORMATS:
            raise ValueError("output_format must be one of 'auto', 'json', 'csv', 'none'")
        if self._state != "stopped":
            raise RuntimeError("the report exists only after stop()")
        if self._native is None:
            if fmt == "auto":
                _check_report_extension(path)
            if path.lower().endswith(".zst"):
                raise _no_zst(path)
            if fmt == "auto":
                fmt = "csv" if path.lower().endswith(".csv") else "json"
            if fmt != "none":
                _fallback.write(self._report, path, fmt)
            return
        rc = self._native.lib.nemb_session_write(self._handle, path.encode(), _FORMATS[fmt])
        if rc == _native.NEMB_EINVAL:  # the library's rule for "auto" (an unknown extension)
            raise ValueError(self._native.error_text(rc))
        if rc != 0:
            raise _os_or_runtime_error(rc, self._native.error_text(rc))

    def export_plot(self, path):
        """Renders power against time, each task's window marked: ``.html`` (interactive, one
        self-contained file) or ``.png``. Best with ``record_time_series=True``. After stop()."""
        path = os.fspath(path) if isinstance(path, os.PathLike) else path
        path = _check_str(path, "path")
        if self._state != "stopped":
            raise RuntimeError("export_plot() needs the finished report: call it after stop()")
        if self._native is None:
            raise RuntimeError("export_plot() needs libcodegreen-nemb, which could not be loaded: "
                               "%s" % _native.load_error())
        rc = self._native.lib.nemb_session_export_plot(self._handle, path.encode("utf-8", "surrogateescape"))
        if rc != 0:
            msg = self._native.error_text(rc)
            if rc == _native.NEMB_EINVAL:
                raise ValueError(msg)
            raise _os_or_runtime_error(rc, msg)


def _check_report_extension(path):
    """Without the library only: the library's rule for output_format "auto" (session.c,
    format_of), which the library applies itself otherwise. A report file's kind comes from its
    extension: one that names neither JSON nor CSV is refused, as the CLI's -o refuses it, rather
    than written as JSON. A
    destination that is not a regular file (a device, a FIFO) is written as JSON; a directory is
    left to the write, which refuses it with its errno."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return
    except OSError:
        pass
    base = path.lower()
    if base.endswith(".zst"):
        base = base[:-len(".zst")]
    if not base.endswith((".json", ".csv")):
        raise ValueError("cannot write the report to %s: unknown kind of file; the extensions "
                         "known are .json, .csv, each also with .zst (zstd-compressed); or give "
                         "output_format='json' or 'csv'" % path)


def _os_or_runtime_error(rc, msg):
    """An OSError for the errno range of the library's codes, else a RuntimeError."""
    if -4000 < rc < 0 and rc != _native.NEMB_EINVAL:
        return OSError(-rc, msg)
    return RuntimeError(msg)


def _version():
    from . import __version__
    return __version__


def _warn_no_backend():
    global _warned_no_backend
    if not _warned_no_backend:
        _warned_no_backend = True
        warnings.warn("codegreen: %s; measuring nothing: every energy is 0 and "
                      "measurement_quality is 'no_backend'. The program runs on."
                      % _native.load_error(), RuntimeWarning, stacklevel=3)


def other_processes(native=None):
    """The pids of the other live codegreen processes registered on this host (an empty list when
    the library is missing or the registry cannot be read)."""
    native = native or _native.load()
    if native is None:
        return []
    cap = 64
    while True:
        pids = (_native.ctypes.c_int * cap)()
        n = _native.ctypes.c_size_t()
        if native.lib.nemb_procs_list_others(pids, cap, n) != 0:
            return []
        if n.value <= cap:
            return [pids[i] for i in range(n.value)]
        cap = n.value


def _warn_if_concurrent(native, stacklevel):
    # The registry's own answer first: a registry that was refused (a symbolic link, another
    # user's file) must not silently stand for "no other process".
    n = _native.ctypes.c_size_t()
    rc = native.lib.nemb_procs_list_others(None, 0, n)
    if rc != 0:
        warnings.warn(
            "codegreen: cannot tell whether other codegreen processes are measuring on this host: "
            "%s. RAPL counters are system-wide, so overlapping measurements would each include "
            "the other's energy." % native.error_text(rc), UserWarning, stacklevel=stacklevel)
        return
    pids = other_processes(native)
    if not pids:
        return
    warnings.warn(
        "codegreen: %d other codegreen process%s measuring on this host (pid %s). RAPL counters "
        "are system-wide, so overlapping measurements each include the other's energy: run "
        "them one after another, or read the figures as the system's energy during the window."
        % (len(pids), " is" if len(pids) == 1 else "es are", ", ".join(map(str, pids))),
        UserWarning, stacklevel=stacklevel)


# ----- @codegreen.task -----

def task(arg=None, name=None):
    """Measures every call of a function as a task of the active Session.

    ``@codegreen.task`` names the task after the function's qualified name;
    ``@codegreen.task("name")`` or ``@codegreen.task(name="name")`` chooses the name. Works on
    plain functions, methods, generators and coroutines (and async generators). A generator or
    coroutine is measured while it runs: each resumption is one span of the task, so time spent
    suspended (in the caller, or waiting on the event loop) is not counted and other tasks of the
    thread nest correctly. With no active Session, the function runs unmeasured, and the first
    such call in the process emits one RuntimeWarning that says so (the decorator does not start
    a Session of its own: where a Session begins and ends, and which file it writes, stays the
    program's choice).
    """
    if isinstance(arg, (classmethod, staticmethod)) and name is None:
        return type(arg)(task(arg.__func__))  # @codegreen.task above @classmethod
    if callable(arg) and name is None:
        return _wrap(arg, _default_name(arg), active_session)
    if arg is not None and name is not None:
        raise TypeError("task() takes the name once")
    label = arg if arg is not None else name
    if label is not None:
        _check_name(label)

    def decorate(func):
        if isinstance(func, (classmethod, staticmethod)):
            return type(func)(decorate(func.__func__))
        if not callable(func):
            raise TypeError("@codegreen.task decorates a callable, not %r" % (func,))
        return _wrap(func, label if label is not None else _default_name(func), active_session)
    return decorate


def _default_name(func):
    return getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)


_warned_unmeasured = False


def _live(get_session, name=None, stacklevel=4):
    s = get_session()
    if s is None or s._state != "active" or s._generation != _fork_generation:
        if name is not None and not _warned_unmeasured and not _forked_while_active:
            _warn_unmeasured(name, stacklevel)
        return None
    return s


def _warn_unmeasured(name, stacklevel):
    global _warned_unmeasured
    _warned_unmeasured = True
    warnings.warn("codegreen.task %r ran outside an active codegreen.Session and was not "
                  "measured; start one (with codegreen.Session(...):) around the calls to "
                  "measure them. This warning is shown once per process." % (name,),
                  RuntimeWarning, stacklevel=stacklevel)


def _wrap(func, name, get_session, owner=None):
    """The wrapper of a @codegreen.task (``owner`` None: tasks of the active Session) or of an
    @s.task(...) function (``owner``: only Session s)."""
    if inspect.isasyncgenfunction(func):
        @functools.wraps(func)
        async def agen_wrapper(*args, **kwargs):
            agen = func(*args, **kwargs)
            value, thrown = None, None
            try:
                while True:
                    step = agen.asend(value) if thrown is None else agen.athrow(thrown)
                    try:
                        item = await _Steps(step, name, get_session)
                    except StopAsyncIteration:
                        return
                    value, thrown = None, None
                    try:
                        value = yield item
                    except GeneratorExit:
                        raise
                    except BaseException as e:  # thrown into us: pass it on
                        thrown = e
            finally:
                await _Steps(agen.aclose(), name, get_session)
        return agen_wrapper

    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def coro_wrapper(*args, **kwargs):
            return await _Steps(func(*args, **kwargs), name, get_session)
        return coro_wrapper

    if inspect.isgeneratorfunction(func):
        @functools.wraps(func)
        def gen_wrapper(*args, **kwargs):
            return (yield from _steps(func(*args, **kwargs), name, get_session))
        return gen_wrapper

    def slow(func, args, kwargs):
        s = _live(get_session, name, stacklevel=5)  # the warning points at wrapper's caller
        if s is None:
            return func(*args, **(kwargs or {}))
        s.start_task(name)
        try:
            return func(*args, **(kwargs or {}))
        finally:
            if s._state == "active":  # the function may have stopped the session itself
                s.stop_task(name)

    call = None  # the extension's TaskCall (the same rules in C) once a Session has found it

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        nonlocal call
        if call is None:
            call = _task_caller(func, name, owner, slow)
            if call is None:
                return slow(func, args, kwargs)
        return call(*args, **kwargs)
    return wrapper


def _steps(it, name, get_session):
    """Drives generator (or coroutine) ``it`` step by step, each step one span of task ``name``;
    passes sent values, thrown exceptions and close() through. Returns its return value."""
    value, thrown = None, None
    while True:
        s = _live(get_session, name)
        if s is not None:
            s.start_task(name)
        try:
            if thrown is not None:
                exc, thrown = thrown, None
                item = it.throw(exc)
            else:
                item = it.send(value)
        except StopIteration as e:
            return e.value
        finally:
            if s is not None and s._state == "active":
                s.stop_task(name)
        try:
            value = yield item
        except GeneratorExit:
            it.close()
            raise
        except BaseException as e:
            value, thrown = None, e


class _Steps(object):
    """An awaitable that runs a coroutine (or an async generator's step) through _steps()."""

    __slots__ = ("coro", "name", "get_session")

    def __init__(self, coro, name, get_session):
        self.coro = coro
        self.name = name
        self.get_session = get_session

    def __await__(self):
        return (yield from _steps(self.coro.__await__(), self.name, self.get_session))


# ----- the forgotten stop -----

def _at_exit():
    s = _active
    if s is None or s._pid != os.getpid() or s._generation != _fork_generation:
        return
    try:
        report = s.stop()
    except Exception as e:  # the process is ending: say it, do not raise
        sys.stderr.write("codegreen: stopping Session %r at exit failed: %s\n" % (s.name, e))
        return
    where = s.output_path or "no file (save_to_file=False or output_format='none')"
    sys.stderr.write("codegreen: Session %r was never stopped; stopped at exit, report: %s\n"
                     % (s.name, where))
    del report


atexit.register(_at_exit)
