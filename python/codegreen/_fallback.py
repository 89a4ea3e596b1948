"""The one report Python builds itself: when libcodegreen-nemb cannot be loaded at all.

The program being measured must run on, so a Session without its library still keeps tasks
(per thread, with the same checks and messages as the C library) and writes an envelope with
exactly the keys of the C library's own ``no_backend`` report: every energy 0, no domains,
``measurement_quality: "no_backend"``, ``backend_error`` saying why. Nothing here measures; a
test compares these keys with the C library's report so the two cannot drift apart.
"""

import csv
import datetime
import io
import json
import os
import platform
import socket
import sys
import threading
import time
import uuid

MAX_DEPTH = 256


def _rfc3339_utc(wall):
    dt = datetime.datetime.fromtimestamp(wall, datetime.timezone.utc)
    return dt.isoformat(timespec="microseconds")


def _rfc3339_local(wall):
    return datetime.datetime.fromtimestamp(wall).astimezone().isoformat(timespec="microseconds")


def _host_timezone(wall):
    local = datetime.datetime.fromtimestamp(wall).astimezone()
    name = local.tzname() or ""
    if name.isalpha():
        return name
    off = local.utcoffset() or datetime.timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return "%s%02d:%02d" % (sign, abs(minutes) // 60, abs(minutes) % 60)


def _cpu_model():
    # Like the C library: under CODEGREEN_SYSFS_ROOT, the tests' fixture trees.
    root = os.environ.get("CODEGREEN_SYSFS_ROOT", "").rstrip("/")
    try:
        with open(root + "/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return None


def _platform():
    name = sys.platform.rstrip("0123456789")
    return {"win": "windows", "cygwin": "windows"}.get(name, name)


# A task's window in the columnar layout when there are no points (report_columnar.c).
_NO_WINDOW = {"start": None, "first": 0, "count": 0, "first_power": None, "end": None}


class FallbackSession(object):
    """Tasks without energy. Mirrors the C session's task rules; see the module comment."""

    def __init__(self, name, record_time_series, argv, backend_error, version, columnar=False):
        self.name = name
        self.record_time_series = record_time_series
        self.columnar = columnar and record_time_series  # the columnar layout, with no points
        self.argv = argv
        self.backend_error = backend_error
        self.version = version
        self.lock = threading.Lock()
        self.local = threading.local()
        self.threads = 0
        self.records = []  # (seq, name, parent, depth, thread, t_start, t_end, closed_at_end)
        self.open_stacks = []  # every thread's stack, to close them at the end
        self.loose = {}  # task_open()'s open tasks: id -> (name, parent, depth, seq, t0, thread)
        self.seq = 0
        self.ended = False
        self.t_begin = time.monotonic_ns()
        self.wall_begin = time.time()
        self.t_end = 0
        self.run_id = uuid.uuid4().hex[:12]

    def _stack(self):
        st = getattr(self.local, "stack", None)
        if st is None:
            with self.lock:
                st = self.local.stack = []
                self.local.index = self.threads
                self.threads += 1
                self.open_stacks.append((self.local.index, st))
        return st

    def task_start(self, name):
        if self.ended:
            return "the session has ended; nothing more can be recorded"
        st = self._stack()
        if len(st) >= MAX_DEPTH:
            return "cannot start task '%s': tasks nest at most %d deep" % (name, MAX_DEPTH)
        with self.lock:
            seq = self.seq
            self.seq += 1
        st.append((name, seq, time.monotonic_ns()))
        return None

    def task_stop(self, name):
        now = time.monotonic_ns()
        if self.ended:
            return "the session has ended; nothing more can be recorded"
        st = self._stack()
        if not st:
            return "cannot stop task '%s': no task is open in this thread" % (name or "(innermost)")
        top = st[-1]
        if name is not None and name != top[0]:
            return ("cannot stop task '%s': the innermost open task in this thread is '%s'"
                    % (name, top[0]))
        st.pop()
        parent = st[-1][0] if st else None
        with self.lock:
            self.records.append((top[1], top[0], parent, len(st), self.local.index, top[2], now,
                                 False))
        return None

    def task_open(self, name, parent, depth):
        """nemb_task_open(): a task outside the thread's stack (an asyncio task's), with the
        parent and depth given, or (None) in the thread's innermost task. Returns
        (error or None, id, depth)."""
        if self.ended:
            return "the session has ended; nothing more can be recorded", 0, 0
        st = self._stack()
        if parent is None:
            depth = len(st)
            parent = st[-1][0] if st else None
        if depth >= MAX_DEPTH:
            return "cannot open task '%s': tasks nest at most %d deep" % (name, MAX_DEPTH), 0, 0
        with self.lock:
            seq = self.seq
            self.seq += 1
        self.loose[seq] = (name, parent, depth, seq, time.monotonic_ns(), self.local.index)
        return None, seq, depth

    def task_close(self, task_id):
        now = time.monotonic_ns()
        if self.ended:
            return "the session has ended; nothing more can be recorded"
        self._stack()
        t = self.loose.get(task_id)
        if t is None or t[5] != self.local.index:
            return "cannot close task id %d: no task with that id is open in this thread" % task_id
        del self.loose[task_id]
        with self.lock:
            self.records.append((t[3], t[0], t[1], t[2], t[5], t[4], now, False))
        return None

    def task_current(self):
        st = self._stack()
        return st[-1][0] if st else None

    def end(self):
        self.ended = True
        self.t_end = time.monotonic_ns()
        with self.lock:
            for index, st in self.open_stacks:
                while st:
                    name, seq, t0 = st.pop()
                    parent = st[-1][0] if st else None
                    self.records.append((seq, name, parent, len(st), index, t0, self.t_end, True))
            for name, parent, depth, seq, t0, index in list(self.loose.values()):
                self.records.append((seq, name, parent, depth, index, t0, self.t_end, True))
            self.loose.clear()
            self.records.sort()

    # ----- the report -----

    def _wall(self, t_ns):
        return self.wall_begin + (t_ns - self.t_begin) / 1e9

    def report(self):
        wall_end = self._wall(self.t_end)
        env = dict((k, v) for k, v in os.environ.items() if k.startswith("CODEGREEN_"))
        meta = {
            "schema_version": "1",
            "codegreen_version": self.version,
            "run_id": self.run_id,
            "session_name": self.name,
            "started_at": _rfc3339_utc(self.wall_begin),
            "ended_at": _rfc3339_utc(wall_end),
            "started_at_local": _rfc3339_local(self.wall_begin),
            "ended_at_local": _rfc3339_local(wall_end),
            "host_timezone": _host_timezone(self.wall_begin),
            "duration_total_s": (self.t_end - self.t_begin) / 1e9,
            "hostname": socket.gethostname() or None,
            "pid": os.getpid(),
            "platform": _platform(),
            "python_version": platform.python_version(),
            "cpu_model": _cpu_model(),
            "kernel": "%s-%s-%s" % (platform.system(), platform.release(), platform.machine()),
            "cwd": os.getcwd(),
            "argv": list(self.argv),
            "codegreen_env": env,
            "measurement_quality": "no_backend",
            "measurement_quality_reason": None,
            "domain_support": "none",
            "energy_source": "none",
            "outlier_method": "iqr_1.5",
            "iso_timestamp_format": "rfc3339_utc",
            "nemb_abi_version": None,  # no library was loaded
            "domain_topology": {},
            "timeseries": {
                "enabled": self.record_time_series,
                "schema_version": "1",
                "sample_keys": ["t_ns", "energy_j", "power_w", "domain_j", "domain_w"],
                "t_ns_clock": "clock_monotonic",
                "inclusive_of_children": True,
            },
            "boundary_clock": {"source": "clock_monotonic", "reported_as": "clock_monotonic",
                               "why": "clock_monotonic: no library (time.monotonic_ns())",
                               "tsc_hz": None, "error_ns": 0},
            "sampler": None,
            "backend_error": self.backend_error,
        }
        tasks = []
        spans = []
        task_ns = 0
        for _seq, name, parent, depth, thread, t0, t1, closed in self.records:
            tasks.append({
                "name": name, "depth": depth, "parent": parent,
                "energy_j": 0.0, "avg_power_w": 0.0, "duration_s": (t1 - t0) / 1e9,
                "started_at": self._wall(t0), "ended_at": self._wall(t1),
                "started_at_mono_ns": t0, "ended_at_mono_ns": t1,
                "domains": {}, "domains_power_w": {},
                "timeseries": (dict(_NO_WINDOW) if self.columnar else []) if
                self.record_time_series else None,
                "noise": None, "closed_at_end": closed, "thread": thread,
            })
            if depth == 0:
                spans.append((t0, t1))
                task_ns += t1 - t0
        union_ns = 0
        spans.sort()
        k = 0
        while k < len(spans):
            a, b = spans[k]
            k += 1
            while k < len(spans) and spans[k][0] <= b:
                b = max(b, spans[k][1])
                k += 1
            union_ns += b - a
        wall_ns = self.t_end - self.t_begin
        totals = {
            "energy_j": 0.0,
            "duration_s": task_ns / 1e9,
            "wall_duration_s": wall_ns / 1e9,
            "task_duration_s": task_ns / 1e9,
            "gap_duration_s": max(wall_ns - union_ns, 0) / 1e9,
            "concurrent_overlap_s": (task_ns - union_ns) / 1e9,
            "n_tasks": len(tasks),
            "n_tasks_detailed": len(tasks),  # the fallback lists every task
            "n_top_level_tasks": len(spans),
            "domains": {},
            "domains_power_w": {},
            "sample_interval_ms": None,
            "worst_within_task_power_cv_percent": None,
            "noise_warnings": [],
            "session_energy_j": 0.0,
            "gap_energy_j": 0.0,
            "top_level_union_energy_j": 0.0,
        }
        report = {"meta": meta, "tasks": tasks, "totals": totals}
        if self.columnar:
            # As the library writes a session without a meter in the columnar layout.
            meta["timeseries"]["layout"] = "columnar"
            report["timeseries"] = {"t_ns": [], "energy_j": [], "power_w": [], "domain_j": {},
                                    "domain_w": {}}
        return report


def to_csv(report):
    """The C library's CSV columns (nemb.h's NEMB_CSV_META_COLUMNS first, then the task's),
    without domain columns (there are no domains)."""
    meta_cols = ["run_id", "session_name", "started_at", "hostname", "cpu_model", "energy_source",
                 "measurement_quality"]
    meta = report["meta"]
    cells = ["" if meta.get(k) is None else str(meta.get(k)) for k in meta_cols]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(meta_cols + ["name", "depth", "parent", "energy_j", "avg_power_w", "duration_s",
                            "task_started_at", "task_ended_at", "started_at_mono_ns",
                            "ended_at_mono_ns", "closed_at_end"])
    for t in report["tasks"]:
        w.writerow(cells + [t["name"], t["depth"], t["parent"] or "", repr(t["energy_j"]),
                    repr(t["avg_power_w"]), repr(t["duration_s"]), repr(t["started_at"]),
                    repr(t["ended_at"]), t["started_at_mono_ns"], t["ended_at_mono_ns"],
                    "true" if t["closed_at_end"] else "false"])
    return out.getvalue()


def write(report, path, fmt):
    """Writes through the one writer (_files), as the C library does. ``fmt``: "json" or "csv"."""
    from . import _files
    text = to_csv(report) if fmt == "csv" else json.dumps(report, indent=2) + "\n"
    _files.write_text(path, text)
