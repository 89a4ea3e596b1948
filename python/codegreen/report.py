"""Reports as notebooks like them: ``codegreen.load(path)`` and pandas DataFrames.

A ``Report`` is the report's dict itself (``report["totals"]["energy_j"]`` works as before, and it
compares equal to the parsed JSON), with three views as DataFrames:

- ``tasks_frame()``: one row per task, in start order, with each domain's joules as
  ``<domain>_j`` columns;
- ``timeseries_frame()``: one row per sample of each task's time series (recorded with
  ``record_time_series=True`` or ``codegreen run --time-series``);
- ``functions_frame()``: one row per instrumented function (``codegreen measure`` reports).

pandas is optional: the frames need it, nothing else does. Without it they raise ImportError
saying how to install it.
"""

import errno
import json
import os
import threading

_TASK_COLUMNS = ["name", "depth", "parent", "energy_j", "avg_power_w", "duration_s",
                 "started_at", "ended_at", "started_at_mono_ns", "ended_at_mono_ns",
                 "closed_at_end", "thread", "co2e_g"]
_FUNCTION_COLUMNS = ["name", "context", "line", "calls", "energy_j", "self_energy_j",
                     "duration_s", "self_duration_s", "avg_power_w", "share_of_total",
                     "max_depth", "co2e_g", "pid"]


def _pandas(what):
    try:
        import pandas
    except ImportError:
        raise ImportError(
            "report.%s() needs pandas, which this interpreter cannot import (Debian: "
            "apt install python3-pandas; elsewhere: python -m pip install pandas). The report "
            "itself is a dict and needs nothing: report['tasks'], report['totals']." % what)
    return pandas


# The words for each provenance, the same as the library's nemb_energy_source_words() (a test
# holds the two together; this module reads reports without loading the library).
_SOURCE_WORDS = {"measured": "measured",
                 "estimated": "ESTIMATED from CPU time, not measured",
                 "simulated": "SIMULATED device, not hardware",
                 "none": "NOT MEASURED: no energy backend"}


def source_words(source):
    """What a report's meta.energy_source means, in the words every front prints."""
    return _SOURCE_WORDS.get(source, "unknown")


# The layouts of a report's time series (measurement.report.timeseries_layout; the library
# refuses any other name, python/tests/test_columnar.py holds the two lists together).
TIMESERIES_LAYOUTS = ("samples", "columnar")


def _point(cols, k):
    """The session's point k of a columnar report as a samples-layout point."""
    return {"t_ns": cols["t_ns"][k], "energy_j": cols["energy_j"][k],
            "power_w": cols["power_w"][k],
            "domain_j": {d: v[k] for d, v in cols["domain_j"].items()},
            "domain_w": {d: v[k] for d, v in cols["domain_w"].items()}}


def expand_window(window, columns):
    """A task's columnar "timeseries" window as the samples layout's list of points, value for
    value (the rule is report_columnar.c's): its start point, the session's points first ..
    first + count - 1 (the first with its power from first_power), its end point. None stays
    None (no time series recorded)."""
    if window is None:
        return None
    out = [] if window.get("start") is None else [window["start"]]
    first, count = window.get("first", 0), window.get("count", 0)
    for k in range(first, first + count):
        p = _point(columns, k)
        if k == first and window.get("first_power") is not None:
            p["power_w"] = window["first_power"]["power_w"]
            p["domain_w"] = dict(window["first_power"]["domain_w"])
        out.append(p)
    if window.get("end") is not None:
        out.append(window["end"])
    return out


class _ColumnarTask(dict):
    """A task of a columnar report: ``task["timeseries"]`` and ``task.get("timeseries")`` give
    the per-sample list as in the samples layout, expanded from the window on first access
    (the dict itself keeps the window, so it still equals the file's JSON); ``window`` is the
    window as written."""

    def __init__(self, task, columns):
        dict.__init__(self, task)
        self._columns = columns
        self._series = None

    @property
    def window(self):
        return dict.get(self, "timeseries")

    @property
    def timeseries(self):
        if self._series is None:
            self._series = expand_window(self.window, self._columns)
        return self._series

    def __getitem__(self, key):
        if key == "timeseries":
            if "timeseries" not in self:
                raise KeyError(key)
            return self.timeseries
        return dict.__getitem__(self, key)

    def get(self, key, default=None):
        if key == "timeseries":
            return self.timeseries if "timeseries" in self else default
        return dict.get(self, key, default)


class Report(dict):
    """A codegreen report: the JSON envelope (meta, tasks, totals, and functions/checkpoints
    from instrumented programs) as a dict, plus DataFrame views. ``path`` is the file it was
    loaded from, or None.

    In the columnar layout (meta.timeseries.layout "columnar": the session's points once, in
    the top-level "timeseries", each task's series a window into them), each task's
    ``["timeseries"]`` still reads as the per-sample list, expanded when first read."""

    path = None

    def __init__(self, *args, **kwargs):
        dict.__init__(self, *args, **kwargs)
        layout = ((self.get("meta") or {}).get("timeseries") or {}).get("layout")
        columns = self.get("timeseries")
        if layout == "columnar" and isinstance(columns, dict) and isinstance(
                self.get("tasks"), list):
            self["tasks"] = [_ColumnarTask(t, columns) if isinstance(t, dict) else t
                             for t in self["tasks"]]

    @property
    def tasks(self):
        return self.get("tasks") or []

    def _domains(self, rows, key):
        names = []
        topo = (self.get("meta") or {}).get("domain_topology") or {}
        names.extend(topo)
        for row in rows:
            for d in (row.get(key) or {}):
                if d not in names:
                    names.append(d)
        return names

    def tasks_frame(self):
        """One row per task (start order): name, depth, parent, energy_j, avg_power_w,
        duration_s, wall-clock and monotonic start/end, closed_at_end, thread, co2e_g (when a
        carbon intensity was given), and ``<domain>_j`` per domain. Units are in the names."""
        pd = _pandas("tasks_frame")
        tasks = self.tasks
        domains = self._domains(tasks, "domains")
        has_co2e = any("co2e_g" in t for t in tasks)
        columns = [c for c in _TASK_COLUMNS if c != "co2e_g" or has_co2e]
        rows = []
        for t in tasks:
            row = [t.get(c) for c in columns]
            row += [(t.get("domains") or {}).get(d) for d in domains]
            rows.append(row)
        return pd.DataFrame(rows, columns=columns + ["%s_j" % d for d in domains])

    def timeseries_frame(self):
        """One row per time-series sample of each task: task (name), task_index, t_ns
        (CLOCK_MONOTONIC), t_s (seconds since the session's first sample), energy_j and power_w
        (all domains in total), then ``<domain>_j`` and ``<domain>_w``. A parent task's series
        includes its children's samples (meta.timeseries.inclusive_of_children)."""
        pd = _pandas("timeseries_frame")
        tasks = self.tasks
        if not any(isinstance(t.get("timeseries"), list) for t in tasks):
            raise ValueError(
                "this report has no time series%s: record one with "
                "codegreen.Session(..., record_time_series=True) or codegreen run --time-series"
                % (" (%s)" % self.path if self.path else ""))
        samples = [(i, t["name"], s) for i, t in enumerate(tasks)
                   for s in (t.get("timeseries") or [])]
        domains = []
        for _, _, s in samples:
            for key in ("domain_j", "domains"):
                for d in (s.get(key) or {}):
                    if d not in domains:
                        domains.append(d)
        t0 = min((s.get("t_ns", 0) for _, _, s in samples), default=0)
        rows = []
        for i, name, s in samples:
            dj = s.get("domain_j") or s.get("domains") or {}
            dw = s.get("domain_w") or {}
            row = [name, i, s.get("t_ns"), (s.get("t_ns", 0) - t0) / 1e9, s.get("energy_j"),
                   s.get("power_w")]
            row += [dj.get(d) for d in domains] + [dw.get(d) for d in domains]
            rows.append(row)
        columns = ["task", "task_index", "t_ns", "t_s", "energy_j", "power_w"]
        columns += ["%s_j" % d for d in domains] + ["%s_w" % d for d in domains]
        return pd.DataFrame(rows, columns=columns)

    def functions_frame(self):
        """One row per instrumented function (``codegreen measure`` and codegreen_runtime
        reports), sorted by energy as in the report: name, context (file), line, calls,
        inclusive and self energy and time, avg_power_w, share_of_total, max_depth, co2e_g
        (with a carbon intensity), pid (when the report merged child processes: the process the
        function's calls ran in). Empty (with these columns) for a report without instrumented
        functions."""
        pd = _pandas("functions_frame")
        funcs = self.get("functions") or []
        has = {c: any(c in f for f in funcs) for c in ("co2e_g", "pid")}
        columns = [c for c in _FUNCTION_COLUMNS if has.get(c, True)]
        return pd.DataFrame([[f.get(c) for c in columns] for f in funcs], columns=columns)

    def table(self):
        """The tasks as a text table (what the %%codegreen cell magic prints)."""
        meta = self.get("meta") or {}
        totals = self.get("totals") or {}
        source = meta.get("energy_source")
        label = source_words(source)
        has_co2e = "co2e_g" in totals
        head = "%-30s %12s %10s %10s" % ("TASK", "ENERGY J", "TIME s", "AVG W")
        if has_co2e:
            head += " %12s" % "CO2E g"
        lines = [head]
        for t in self.tasks:
            line = "%-30s %12.6f %10.4f %10.3f" % (
                "  " * int(t.get("depth") or 0) + str(t.get("name")), t.get("energy_j") or 0,
                t.get("duration_s") or 0, t.get("avg_power_w") or 0)
            if has_co2e:
                line += " %12.6f" % (t.get("co2e_g") or 0)
            lines.append(line)
        lines.append("total %.6f J over %.4f s [%s]" % (
            totals.get("energy_j") or 0, totals.get("wall_duration_s") or 0, label))
        carbon = meta.get("carbon")
        if has_co2e and carbon:
            lines.append("co2e %.6f g at %g g/kWh (%s)" % (
                totals["co2e_g"], carbon.get("intensity_g_per_kwh"), carbon.get("source")))
        if meta.get("measurement_quality") not in ("ok", None):
            lines.append("measurement_quality: %s" % meta.get("measurement_quality"))
        return "\n".join(lines)


class _LazyReport(Report):
    """A Report parsed when first used: what ``Session.stop()`` returns for a report with time
    series, whose text can be hundreds of MB (an hour at 1 ms). ``load()`` gives the report's
    JSON text (bytes or str) once; the first use of the object through any dict or Report method
    parses it, fills the dict and turns the object into a plain Report, so it then is, compares
    and pickles as the parsed report. Until then the dict holds ``summary`` (the report without
    its series), which only code reading the dict's storage directly in C could see."""

    def __init__(self, summary, load):
        dict.__init__(self, summary)
        self.__dict__["_load"] = load

    def _materialize(self):
        with _lazy_lock:
            load = self.__dict__.get("_load")
            if load is None:  # another thread parsed it while this one waited
                return
            text = load()
            if text is None:
                raise MemoryError("codegreen: the report's text could not be built")
            full = json.loads(text)
            del self.__dict__["_load"]
            dict.clear(self)
            self.__class__ = Report
            Report.__init__(self, full)


_lazy_lock = threading.Lock()


def _lazy(name):
    def method(self, *args, **kwargs):
        _LazyReport._materialize(self)
        return getattr(self, name)(*args, **kwargs)
    method.__name__ = name
    return method


for _name in ("__getitem__", "__setitem__", "__delitem__", "__contains__", "__iter__",
              "__len__", "__repr__", "__eq__", "__ne__", "__reversed__", "__or__", "__ror__",
              "__ior__", "__reduce__", "__reduce_ex__", "__sizeof__", "get", "keys", "values",
              "items", "copy", "pop", "popitem", "setdefault", "update", "clear"):
    setattr(_LazyReport, _name, _lazy(_name))
_LazyReport.__hash__ = None
del _name


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _decompressed(path):
    """The text of the zstd-compressed report at path, decompressed by the codegreen library
    (``nemb_report_read_text``, through libzstd): this interpreter's standard library has no
    zstd. Raises RuntimeError naming the fix when the library cannot do it, OSError or
    ValueError when the file cannot be read or is not valid zstd data."""
    import ctypes
    from . import _native
    native = _native.load()
    fn = getattr(native.lib, "nemb_report_read_text", None) if native is not None else None
    if fn is None:
        why = _native.load_error() or "%s has no nemb_report_read_text" % native.path
        raise RuntimeError("%s is zstd-compressed: reading it needs the codegreen library "
                           "(libcodegreen-nemb with libzstd), and %s; decompress it with "
                           "`zstd -d %s` and load the .json" % (path, why, path))
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p),
                   ctypes.POINTER(ctypes.c_size_t)]
    text, size = ctypes.c_void_p(), ctypes.c_size_t()
    rc = fn(path.encode("utf-8", "surrogateescape"), ctypes.byref(text), ctypes.byref(size))
    if rc != 0:
        msg = native.error_text(rc)
        if rc in (-errno.ENOENT, -errno.EACCES):  # NEMB_ENOENT, NEMB_EACCES
            raise OSError(-rc, msg, path)
        raise (RuntimeError if rc == _native.NEMB_ENOTSUP else ValueError)(msg)
    try:
        return ctypes.string_at(text.value, size.value)
    finally:
        native.lib.nemb_free.argtypes = [ctypes.c_void_p]
        native.lib.nemb_free.restype = None
        native.lib.nemb_free(text)


def load(path):
    """Reads a saved JSON report (a Session's file, ``codegreen run -o x.json``,
    ``codegreen measure -o x.json``) and returns it as a ``Report``. A zstd-compressed one
    (``x.json.zst``, or any file that starts with zstd's magic) is decompressed by the codegreen
    library; without it (or without libzstd) RuntimeError says how to decompress it instead.

    Raises OSError when the file cannot be read, and ValueError when it is not a codegreen JSON
    report (a CSV report, for example: read that with pandas.read_csv)."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if path.lower().endswith(".zst") or data[:4] == _ZSTD_MAGIC:
        data = _decompressed(path)
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        hint = " (a CSV report: read it with pandas.read_csv)" if path.lower().endswith(
            ".csv") else ""
        raise ValueError("%s is not a JSON report%s: %s" % (path, hint, e))
    if not (isinstance(doc, dict) and isinstance(doc.get("meta"), dict) and
            isinstance(doc.get("tasks"), list) and isinstance(doc.get("totals"), dict)):
        raise ValueError("%s is JSON but not a codegreen report (no meta, tasks and totals)"
                         % path)
    report = Report(doc)
    report.path = path
    return report
