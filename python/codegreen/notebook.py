"""The IPython cell magic ``%%codegreen [name]``: measures a cell and shows its energy.

    %load_ext codegreen

    %%codegreen training
    model.fit(x, y)

The cell runs as an ordinary cell of the notebook (its namespace, its displayed value, top-level
``await``, tracebacks that name the cell and its lines) and is one task named ``name`` (default
``cell``) of a Session of its own that writes no file. Afterwards the magic prints the task table
(energy, time, average power, and CO2e when a carbon intensity is configured) and keeps the
report, a ``codegreen.Report``, in the notebook variable ``_codegreen_report``
(``_codegreen_report.tasks_frame()`` for a DataFrame). A cell that raises is still measured up to
the error. ``%%codegreen --help`` prints this. Needs IPython (Debian: python3-ipython).

How: ``%load_ext codegreen`` adds an input transformer that turns the ``%%codegreen name`` line
into a call that begins the Session and the task (on the cell's line 1, so line numbers stay the
cell's), and an AST transformer that ends them in the cell's last expression (before its value
is shown) or after its last statement; a cell that raises is ended by a ``post_run_cell``
handler. The call on line 1 blanks that line in the cell's cached source, so that tracebacks show
only the user's code. IPython then runs the cell itself, as any other. A line the transformer does not take
(``--help``, wrong arguments) goes to the registered magic, which answers it.
"""

import ast
import linecache
import re
import sys

from .session import Session, active_session

_HELP = """%%codegreen [name]  (or %%codegreen --help)

Measures the cell as one task, `name` (default `cell`), of a codegreen.Session of its own that
writes no file, then prints the task table (energy, time, average power, CO2e when a carbon
intensity is configured, and whether the figures are measured, simulated or estimated) and keeps
the report (a codegreen.Report) in `_codegreen_report`. The cell runs as any other: its value is
shown, top-level await works, errors name the cell's lines; a cell that raises is measured up to
the error. Refused while another codegreen.Session is active."""
_LINE = re.compile(r"^%%codegreen(?:[ \t]+(.*?))?[ \t]*$")
_MODULE = "codegreen.notebook"


def _words(line):
    """The task name of a ``%%codegreen`` line's arguments, or None for help; raises ValueError
    for anything else (the magic turns it into a UsageError)."""
    words = (line or "").split()
    if len(words) > 1:
        raise ValueError("%%codegreen takes one optional task name, not %r" % line.strip())
    if words and words[0] in ("-h", "--help"):
        return None
    if words and words[0].startswith("-"):
        raise ValueError("%%%%codegreen: unknown option %r (%%%%codegreen --help)" % words[0])
    return words[0] if words else "cell"


def _refuse_if_active():
    from IPython.core.error import UsageError
    other = active_session()
    if other is not None:
        raise UsageError("%%codegreen measures with a Session of its own, and codegreen.Session "
                         "%r is active in this kernel; stop it first" % other.name)


_CALL = "_codegreen_cell"  # what line 1 of a measured cell reads: _codegreen_cell('name')
_cell = None    # the measured cell's Session, from its begin to its end
_unshown = None  # a cell's Session ended by an error, its table shown after the traceback


def _cell_begin(name):
    """Line 1 of a measured cell: begins its Session and its task."""
    global _cell
    _hide_line_one(sys._getframe(1).f_code.co_filename)
    _refuse_if_active()
    session = Session(name, save_to_file=False)
    session.start()
    session.start_task(name)
    _cell = session


def _hide_line_one(filename):
    """Tracebacks (and pdb) draw a cell's lines from linecache, where IPython keeps the cell as
    transformed: its line 1, our call, becomes blank there, so that a traceback shows only the
    user's code, at the cell's line numbers. (Blank, not the ``%%codegreen`` line: the text must
    still parse for IPython's verbose tracebacks to show variables.)"""
    for cache in (linecache.cache, getattr(linecache, "_ipython_cache", None)):
        entry = cache.get(filename) if isinstance(cache, dict) else None
        if not (isinstance(entry, tuple) and len(entry) == 4 and entry[2] and
                entry[2][0].startswith(_CALL + "(")):
            continue
        lines = ["\n"] + list(entry[2][1:])
        cache[filename] = (sum(len(text) for text in lines), entry[1], lines, entry[3])


def _end(show):
    """Ends the cell's task and Session; shows the table now or after the cell."""
    global _cell, _unshown
    session, _cell = _cell, None
    if session is None or not session.active:
        return
    try:
        session.stop_task(session.name)
    finally:
        session.stop()
        if show:
            _show(session)
        else:
            _unshown = session


_last = None  # the value of a measured cell's last expression, until _cell_end() returns it


def _cell_end():
    """The cell's last statement: ends the task and the Session and shows the table; returns
    the value of the cell's last expression (None without one), for IPython to show."""
    global _last
    value, _last = _last, None
    _end(True)
    return value


def _cell_failed():
    """A statement of the cell raised: ends the task there (the traceback is not measured)."""
    _end(False)


def _show(session):
    from IPython import get_ipython
    report = session.report
    if report is not None:
        ip = get_ipython()
        if ip is not None:
            ip.user_ns["_codegreen_report"] = report
        print(report.table())


def _after_cell(result=None):
    """post_run_cell: shows the table of a cell that raised, after its traceback; ends one whose
    last expression raised."""
    global _unshown
    session, _unshown = _unshown, None
    if _cell is not None:
        _end(True)
    elif session is not None:
        _show(session)


def _transform_lines(lines):
    """Input transformer (cleanup stage): a cell whose first line is ``%%codegreen [name]``
    becomes the cell with that line replaced by ``_codegreen_cell('name')``."""
    if not lines:
        return lines
    m = _LINE.match(lines[0].rstrip("\r\n"))
    if m is None:
        return lines
    try:
        name = _words(m.group(1))
    except ValueError:
        return lines  # the magic says what is wrong
    if name is None:
        return lines  # --help: the magic prints it
    return ["%s(%r)\n" % (_CALL, name)] + lines[1:]


def _is_begin(stmt):
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and
            isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == _CALL and
            len(stmt.value.args) == 1 and isinstance(stmt.value.args[0], ast.Constant) and
            isinstance(stmt.value.args[0].value, str) and not stmt.value.keywords)


def _module():
    """This module, as an expression that needs nothing in the notebook's namespace."""
    return ast.Call(func=ast.Name(id="__import__", ctx=ast.Load()),
                    args=[ast.Constant(value=_MODULE)],
                    keywords=[ast.keyword(arg="fromlist", value=ast.List(
                        elts=[ast.Constant(value="_")], ctx=ast.Load()))])


def _function(name, at):
    """This module's function ``name``, located at node ``at``."""
    return ast.copy_location(ast.Attribute(value=_module(), attr=name, ctx=ast.Load()), at)


class _EndInLastExpression(ast.NodeTransformer):
    """IPython AST transformer of a measured cell (line 1 ``_codegreen_cell('name')``): line 1
    calls _cell_begin(); the statements after it run in ``try: ... except: _cell_failed();
    raise`` (the task ends where the error is raised, not after its traceback is drawn), the
    last expression's value stored in ``_last``; a last ``_cell_end()`` expression ends the task
    and gives IPython that value to show. Other cells are left alone."""

    def visit_Module(self, node):
        if not node.body or not _is_begin(node.body[0]):
            return node
        begin, rest = node.body[0], node.body[1:]
        begin.value.func = _function("_cell_begin", begin.value.func)
        last = rest[-1] if rest and isinstance(rest[-1], ast.Expr) else None
        if last is not None:  # its value is kept, to be shown after the end
            rest[-1] = ast.copy_location(ast.Assign(
                targets=[ast.Attribute(value=_module(), attr="_last", ctx=ast.Store())],
                value=last.value), last)
        body = [begin]
        if rest:
            failed = ast.Expr(value=ast.Call(func=_function("_cell_failed", rest[0]), args=[],
                                             keywords=[]))
            body.append(ast.copy_location(ast.Try(
                body=rest, handlers=[ast.ExceptHandler(type=None, name=None,
                                                       body=[failed, ast.Raise()])],
                orelse=[], finalbody=[]), rest[0]))
        at = rest[-1] if rest else begin
        end = ast.Call(func=_function("_cell_end", at), args=[], keywords=[])
        body.append(ast.copy_location(ast.Expr(value=end), at))
        node.body = body
        return ast.fix_missing_locations(node)


def _measure_cell(line, cell):
    """%%codegreen [name] - measures the cell as one task and prints its energy
    (%%codegreen --help)."""
    from IPython import get_ipython
    from IPython.core.error import UsageError

    try:
        name = _words(line)
    except ValueError as e:
        raise UsageError(str(e))
    if name is None:
        print(_HELP)
        return None
    # Reached only without the transformers (a cell run by run_cell_magic() itself): the cell
    # runs as one block, its value not shown.
    _refuse_if_active()
    ip = get_ipython()
    code = ip.transform_cell(cell)
    session = Session(name, save_to_file=False)
    try:
        with session:
            with session.task(name):
                ip.ex(code)
    finally:
        _show(session)
    return None


_measure_cell.__doc__ = _HELP


def load_ipython_extension(ipython):
    """Registers ``%%codegreen`` (called by ``%load_ext codegreen``)."""
    ipython.register_magic_function(_measure_cell, magic_kind="cell", magic_name="codegreen")
    ipython.user_ns[_CALL] = _cell_begin  # line 1 of a cell the AST transformer did not see
    if _transform_lines not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(_transform_lines)
    if not any(isinstance(t, _EndInLastExpression) for t in ipython.ast_transformers):
        ipython.ast_transformers.append(_EndInLastExpression())
    try:
        ipython.events.unregister("post_run_cell", _after_cell)
    except ValueError:
        pass
    ipython.events.register("post_run_cell", _after_cell)
