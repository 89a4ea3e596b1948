"""The IPython cell magic ``%%codegreen [name]``: measures a cell and shows its energy.

    %load_ext codegreen

    %%codegreen training
    model.fit(x, y)

The cell runs in the notebook's namespace (its output, errors and variables are the notebook's;
as with ``%%time``'s siblings, its last expression is not echoed), as one task named
``name`` (default ``cell``) of a Session of its own that writes no file. Afterwards the magic
prints the task table (energy, time, average power, and CO2e when a carbon intensity is
configured) and keeps the report, a ``codegreen.Report``, in the notebook variable
``_codegreen_report`` (``_codegreen_report.tasks_frame()`` for a DataFrame). A cell that raises
is still measured up to the error. Needs IPython (Debian: python3-ipython).
"""

from .session import Session, active_session


def _measure_cell(line, cell):
    from IPython import get_ipython
    from IPython.core.error import UsageError

    ip = get_ipython()
    words = line.split()
    if len(words) > 1:
        raise UsageError("%%codegreen takes one optional task name, not %r" % line.strip())
    name = words[0] if words else "cell"
    other = active_session()
    if other is not None:
        raise UsageError("%%codegreen measures with a Session of its own, and codegreen.Session "
                         "%r is active in this kernel; stop it first" % other.name)
    # IPython syntax (%magics, !commands) becomes Python first; an error leaves through the
    # magic, so the notebook shows it once and marks the cell failed, as without %%codegreen.
    code = ip.transform_cell(cell)
    session = Session(name, save_to_file=False)
    try:
        with session:
            with session.task(name):
                ip.ex(code)
    finally:
        report = session.report
        if report is not None:
            ip.user_ns["_codegreen_report"] = report
            print(report.table())


def load_ipython_extension(ipython):
    """Registers ``%%codegreen`` (called by ``%load_ext codegreen``)."""
    ipython.register_magic_function(_measure_cell, magic_kind="cell", magic_name="codegreen")
