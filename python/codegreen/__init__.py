"""codegreen: how many joules does your Python code cost?

    import codegreen

    with codegreen.Session("training-run") as s:
        with s.task("data_load"):
            load_data()
        with s.task("train"):
            train_model()
    print(s.report["totals"]["energy_j"])

Three forms: the context managers above; ``s.start()`` / ``s.start_task("x")`` /
``s.stop_task("x")`` / ``s.stop()``; and the ``@codegreen.task`` decorator, which measures every
call of a function as a task of the active Session. The report (``s.report`` after stop, and the
file ``codegreen_<pid>.json`` unless told otherwise) is built by libcodegreen-nemb.

In notebooks: ``codegreen.load(path)`` reads a saved report; ``report.tasks_frame()``,
``report.timeseries_frame()`` and ``report.functions_frame()`` give pandas DataFrames; and
``%load_ext codegreen`` adds the ``%%codegreen [name]`` cell magic, which measures a cell.
"""


def load_ipython_extension(ipython):
    """``%load_ext codegreen``: registers the ``%%codegreen`` cell magic."""
    from .notebook import load_ipython_extension as load_ext
    load_ext(ipython)

from ._cli import executable
from .report import Report, load
from .session import Session, active_session, other_processes, task

__version__ = "0.1.0"

__all__ = ["Session", "task", "active_session", "other_processes", "native_library",
           "executable", "load", "Report", "__version__"]


def native_library():
    """Where libcodegreen-nemb was loaded from, or None (with the reason in the warning that the
    first Session gives)."""
    from . import _native
    n = _native.load()
    return n.path if n is not None else None
