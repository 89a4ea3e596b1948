"""runner.py - codegreen's compile step for Python, run by `codegreen measure` with the program's
own interpreter before the program itself.

    python runner.py compile INSTRUMENTED LINEMAP ARGV0 TMPDIR RUNTIME OUTPUT_PYC
    python runner.py check ARGV0

compile: parses the instrumented source, moves every position in its syntax tree back to the
user's file (the line map from the engine: instrumented line/column -> original line/column),
adds what makes a .pyc behave like `python ARGV0` (sys.argv[0], sys.path[0], __file__,
__loader__), compiles with the user's file name and writes OUTPUT_PYC. On CPython 3.11+ it
compiles the instrumented text as it is and moves the positions in the code objects instead
(compile_fast(): the same positions, without the syntax tree's round trip through Python
objects); other interpreters, and files that path cannot do exactly, take the round trip. Running that .pyc then
shows the user's file, lines and columns in tracebacks, warnings and inspect, with no frame of
codegreen's in between. Warnings the parser raises come out once, here, with the user's lines.
Exit status: 0; 1 when the user's file itself does not compile (Python's own message is
printed, as `python ARGV0` would print it); 3 when only the instrumented file fails to compile
(an instrumenter bug: the message says so); 4 when the module RUNTIME cannot be imported; 5
when only the recursion limit stops the user's file (measure then has python compile and run it
as it is, which fails exactly when a plain run does).

check: compiles the user's file and prints Python's error if it does not compile (exit 1).

    python runner.py compile-list LIST OUT
    python runner.py compile INSTRUMENTED LINEMAP ARGV0 TMPDIR RUNTIME OUTPUT_PYC LIST OUT

compile-list: the program's other modules (see compile_list()); silent, exit status 0. The
second form of compile does both in one interpreter run.

    python runner.py zip-list ARCHIVE DIR LIST

zip-list: extracts the .py members of the zip file ARCHIVE (run as `python ARCHIVE`) into DIR
and writes LIST, one "key TAB file" line each, the key being the member's path as the runtime's
import hook sees it (the archive's real path joined with the member's name). Exit status 0; 1
when ARCHIVE cannot be read as a zip file (then it runs as it is).

Limits are CPython's own, not lower and not higher: the user's file compiles only where a plain
run compiles it (a 100 000-term expression fails as python fails it), the syntax tree's round
trip through Python objects runs with a raised recursion limit (a 1000-term expression or elif
chain compiles), and where the
guards added around loops and functions exceed CPython's 20 statically nested blocks, the
innermost guards are left out (those loops or functions are then not measured) rather than
failing. A warning of the user's file that their filters turn into an error (PYTHONWARNINGS=error)
is reported as Python reports it: the file's SyntaxError, exit status 1.
"""

import sys


def user_filename(argv0):
    import os
    # Python 3.9+ makes the script's path absolute (joined, not normalised) for __file__ and
    # code objects; before, it kept the path as given.
    if sys.version_info >= (3, 9) and not os.path.isabs(argv0):
        return os.path.join(os.getcwd(), argv0)
    return argv0


def print_syntax_error(e):
    import traceback
    sys.stderr.write("".join(traceback.format_exception_only(type(e), e)))
    sys.stderr.flush()


PLAIN_LIMIT = []  # the interpreter's recursion limit before the runner raised it


def at_plain_limit(fn, *args, **kw):
    """fn(...) under the recursion limit python compiles a script with: the interpreter's own,
    counted from here (python compiles the script with no frame on the stack; the call of the
    builtin FN counts one more), so a file too deep for a plain run (a 100 000-term expression:
    "maximum recursion depth exceeded during compilation") fails here too, to the term on
    3.10-3.11. 3.12+ count the compiler's depth against a fixed C limit from the C calls on
    the stack, which this cannot set: there the boundary may differ by a few levels. The
    runner's own work (the syntax tree's round trip) runs with a raised limit."""
    if not PLAIN_LIMIT:
        return fn(*args, **kw)
    depth, f = 0, sys._getframe()
    while f is not None:
        depth, f = depth + 1, f.f_back
    raised = sys.getrecursionlimit()
    sys.setrecursionlimit(PLAIN_LIMIT[0] + depth + 1)
    try:
        return fn(*args, **kw)
    finally:
        sys.setrecursionlimit(raised)


def check(argv0):
    filename = user_filename(argv0)
    with open(argv0, "rb") as f:
        source = f.read()
    try:
        at_plain_limit(compile, source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError) as e:
        print_syntax_error(e)
        return 1
    return 0


AS_IS = 5  # exit status: python must compile and run the script itself (see plain_status())


def plain_status(argv0):
    """After the instrumented copy of ARGV0 hit the recursion limit: 0 when the user's file
    compiles under a plain run's limit (the copy is only deeper: it is compiled with a raised
    limit), 1 when it has a syntax error (Python's message printed), AS_IS when the limit stops
    it here too. A plain run's limit cannot be reproduced exactly from inside Python on 3.12+
    (a fixed C limit counted from the C calls on the stack), so python itself then compiles and
    runs the file as it is: its own RecursionError, or the program, uninstrumented."""
    with open(argv0, "rb") as f:
        source = f.read()
    try:
        at_plain_limit(compile, source, user_filename(argv0), "exec", dont_inherit=True)
    except RecursionError:
        return AS_IS
    except (SyntaxError, ValueError) as e:
        print_syntax_error(e)
        return 1
    return 0


def compiles_plainly(source, filename):
    """Does python compile SOURCE (bytes) in a plain run?"""
    try:
        at_plain_limit(compile, source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def make_mapper(lines):
    import bisect
    starts = {}  # per line, its segments' columns, when first asked

    def mapper(line, col):
        if line is None or line < 1 or line > len(lines) or not lines[line - 1]:
            return line, col
        segs = lines[line - 1]
        at = starts.get(line)
        if at is None:
            at = starts[line] = [seg[0] for seg in segs]
        i = bisect.bisect_right(at, col) - 1
        if i < 0:
            i = 0
        out_col, orig_line, orig_col, inserted = segs[i]
        if inserted:
            return orig_line, orig_col
        return orig_line, orig_col + (col - out_col)

    return mapper


def remap(tree, mapper):
    """Moves every position back to the user's file. Returns the async for/with statements (for
    at_statement(), without a second walk over the tree)."""
    import ast
    found = []
    kinds = (ast.AsyncFor, ast.AsyncWith)
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) is None:
            continue
        if isinstance(node, kinds):
            found.append(node)
        line, col = mapper(node.lineno, node.col_offset)
        node.lineno, node.col_offset = line, col
        end_line = getattr(node, "end_lineno", None)
        if end_line is not None and getattr(node, "end_col_offset", None) is not None:
            el, ec = mapper(end_line, node.end_col_offset)
            if (el, ec) < (line, col):
                el, ec = line, col
            node.end_lineno, node.end_col_offset = el, ec
    return found


def at_statement(tree, statements):
    """The runtime's wrappers of `async for` / `async with` get the position CPython gives the
    protocol's own instructions (the statement before 3.13, the iterable or context expression
    from 3.13), so that an error of the protocol points where a plain run points. The method's
    name stays on one line: CPython moves a call's start to a multi-line method name."""
    import ast
    rt = runtime_name(tree)
    for node in statements:
        if isinstance(node, ast.AsyncFor):
            calls = [node.iter]
        elif isinstance(node, ast.AsyncWith):
            calls = [item.context_expr for item in node.items]
        else:
            continue
        for call in calls:
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                    and call.func.attr in ("aiter", "acontext") \
                    and isinstance(call.func.value, ast.Name) and call.func.value.id == rt:
                where = node if sys.version_info < (3, 13) or not call.args else call.args[0]
                call.lineno, call.col_offset = where.lineno, where.col_offset
                if hasattr(where, "end_lineno"):
                    call.end_lineno, call.end_col_offset = where.end_lineno, where.end_col_offset
                for n in (call.func, call.func.value):
                    n.lineno, n.col_offset = where.lineno, where.col_offset
                    if hasattr(where, "end_lineno"):
                        n.end_lineno, n.end_col_offset = where.lineno, where.col_offset


def fixups(argv0, filename, tmpdir, runtime, output):
    """Statements that make `python X.pyc` look like `python X.py` to the program, as source.
    They name nothing new in the module's globals."""
    import os
    real_dir = os.path.dirname(os.path.realpath(argv0))
    return (
        "__import__(%r)\n"
        "__file__ = %r\n"
        "__loader__ = __import__('_frozen_importlib_external').SourceFileLoader('__main__', %r)\n"
        "(lambda s: (s.argv.__setitem__(0, %r) if s.argv else None,"
        " s.path.__setitem__(0, %r) if s.path and s.path[0] == %r else None,"
        " s.orig_argv.__setitem__(s.orig_argv.index(%r), %r)"
        " if %r in getattr(s, 'orig_argv', ()) else None))"
        "(__import__('sys'))\n" % (runtime, filename, filename, argv0, real_dir, tmpdir,
                                   output, argv0, output))


BLOCKS_ERROR = "too many statically nested blocks"
BLOCK_TYPES = ("For", "While", "AsyncFor", "Try", "TryStar", "With", "AsyncWith",
               "ExceptHandler")


def runtime_name(tree):
    """The name the prelude gives the runtime (`__import__("codegreen_runtime").install(NAME)`)."""
    import ast
    for node in tree.body:
        call = getattr(node, "value", None)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                and call.func.attr == "install" and call.args \
                and isinstance(call.args[0], ast.Constant):
            return call.args[0].value
    return None


def boundary_names(tree, rt):
    """The names of the file's enter and exit (`TABLE_enter(i)`, `TABLE_exit(i)`), TABLE from the
    prelude's `RT.publish("RT", "TABLE", ...)`; None if there is none."""
    import ast
    for node in tree.body:
        call = getattr(node, "value", None)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                and call.func.attr == "publish" and isinstance(call.func.value, ast.Name) \
                and call.func.value.id == rt and len(call.args) >= 2 \
                and isinstance(call.args[1], ast.Constant) and isinstance(call.args[1].value, str):
            return call.args[1].value + "_enter", call.args[1].value + "_exit"
    return None


def is_call(node, name):
    import ast
    call = getattr(node, "value", None) if isinstance(node, ast.Expr) else None
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == name


def guards(tree, rt):
    """Every guard `ENTER; try: BODY finally: EXIT` the instrumenter wrote: (depth in nested
    blocks, is a loop's, the statement list, the index of ENTER)."""
    import ast
    found = []
    names = boundary_names(tree, rt)
    if names is None:
        return found
    enter, exit_ = names

    def visit(node, depth):
        for field in ("body", "orelse", "finalbody", "handlers"):
            stmts = getattr(node, field, None)
            if not isinstance(stmts, list):
                continue
            for i, st in enumerate(stmts):
                if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    visit(st, 0)  # blocks are counted per code object
                    continue
                inner = depth + (type(st).__name__ in BLOCK_TYPES)
                if isinstance(st, ast.Try) and i > 0 and is_call(stmts[i - 1], enter) \
                        and st.finalbody and is_call(st.finalbody[0], exit_):
                    loop = len(st.body) == 1 and isinstance(st.body[0], (ast.For, ast.While,
                                                                          ast.AsyncFor))
                    found.append((inner, loop, stmts, i - 1))
                visit(st, inner)

    visit(tree, 0)
    return found


def unguard_deepest(tree, rt):
    """Removes the deepest guard (a loop's before a function's). False when none is left."""
    found = guards(tree, rt)
    if not found:
        return False
    depth, loop, stmts, i = max(found, key=lambda g: (g[0], g[1]))
    stmts[i:i + 2] = stmts[i + 1].body
    return True


def compile_within_limits(tree, filename, plain=False):
    """compile(), leaving out the innermost guards while CPython's block limit is exceeded;
    PLAIN: under the recursion limit of a plain run (at_plain_limit())."""
    import copy
    rt = None
    for attempt in range(10000):
        try:
            if plain:
                return at_plain_limit(compile, tree, filename, "exec", dont_inherit=True)
            return compile(tree, filename, "exec", dont_inherit=True)
        except SyntaxError as e:
            if BLOCKS_ERROR not in str(e):
                raise
            if rt is None:
                rt = runtime_name(tree)
                tree = copy.deepcopy(tree)
            if rt is None or not unguard_deepest(tree, rt):
                raise


def insert_at_prologue(tree, stmts):
    import ast
    body = tree.body
    i = 0
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None),
                                                                ast.Constant) \
            and isinstance(body[0].value.value, str):
        i = 1
    while i < len(body) and isinstance(body[i], ast.ImportFrom) and body[i].module == "__future__":
        i += 1
    anchor = body[i] if i < len(body) else (body[-1] if body else None)
    for s in stmts:
        for node in ast.walk(s):
            if hasattr(node, "lineno"):
                node.lineno = anchor.lineno if anchor is not None else 1
                node.col_offset = 0
                if hasattr(node, "end_lineno"):
                    node.end_lineno = node.lineno
                    node.end_col_offset = 0
    body[i:i] = stmts


class NotExact(Exception):
    """The fast path cannot give exactly the positions of the syntax tree's round trip here."""


# The fast path: compile the instrumented text as it is and move the positions in the code
# objects back to the user's file, instead of parsing into Python objects, remapping every node
# and compiling the tree (4-8x CPython's own compile of the file on big files). The result must
# equal the round trip's: every instruction gets the position the round trip gives it, because
# the compiler takes an instruction's position from one node (start line/column, end line/column)
# and the round trip maps each of those with the same line map. Where a position is only a line
# (no column), the line must map to one line of the user's file whatever the column; where it
# does not, or for anything else not exactly reproducible (async wrappers, which the round trip
# repositions; the block limit, which it handles by leaving guards out), NotExact sends the file
# down the round trip. Interpreters: 3.11+ (co_positions/the location table). 3.8-3.10 keep the
# round trip.
FAST_PATH = sys.version_info >= (3, 11)
PRELUDE = b'__import__("codegreen_runtime").install('
FAST_MOVER = []  # [the _codegreen_fast module, or None], looked up by the first compile_fast()


def line_only_mapper(lines, text_lines):
    """line -> the user's line, for a position that has no column: the one line of the user's
    file that every segment from the line's first non-blank column on maps to; NotExact if
    several."""
    cache = {}

    def line_only(line):
        got = cache.get(line)
        if got is not None:
            return got
        if line < 1 or line > len(lines) or not lines[line - 1]:
            got = line
        else:
            segs = lines[line - 1]
            text = text_lines[line - 1] if line <= len(text_lines) else b""
            first = len(text) - len(text.lstrip(b" \t\f"))
            found = set()
            for i, seg in enumerate(segs):
                if i + 1 < len(segs) and segs[i + 1][0] <= first:
                    continue  # wholly in the indentation
                found.add(seg[1])
            if len(found) != 1:
                raise NotExact("line %d maps to several lines" % line)
            got = found.pop()
        cache[line] = got
        return got

    return line_only


def position_mapper(lines, line_only):
    """(line, end_line, col, end_col) of the instrumented file -> the user's, as remap() moves a
    node's positions (the end never before the start)."""
    mapper = make_mapper(lines)

    def pos(p):
        line, end_line, col, end_col = p
        if line is None:
            return p
        if col is None or end_col is None or end_line is None:
            if (col is None) != (end_col is None):
                raise NotExact("position with one column")
            nl = line_only(line)
            nel = None if end_line is None else line_only(end_line)
            if nel is not None and nel < nl:
                raise NotExact("position without columns ends before it starts")
            return (nl, nel, None, None)
        nl, nc = mapper(line, col)
        nel, nec = mapper(end_line, end_col)
        if nel < nl or (nel == nl and nec < nc):
            nel, nec = nl, nc
        return (nl, nel, nc, nec)

    return pos


def load_fast():
    """The _codegreen_fast extension (where the runtime finds it: CODEGREEN_LIB_PATH's
    directory, beside codegreen_runtime.py, its package) for its position mover, or None.
    CODEGREEN_RUNTIME_CTYPES=1 refuses it, as it does the runtime's."""
    import os
    if os.environ.get("CODEGREEN_RUNTIME_CTYPES", "") not in ("", "0") or not FAST_PATH \
            or sys.version_info >= (3, 14):  # the location table of 3.11-3.13
        return None
    import _imp
    import importlib.util
    dirs = []
    env = os.environ.get("CODEGREEN_LIB_PATH")
    if env:
        dirs.append(env if os.path.isdir(env) else os.path.dirname(os.path.abspath(env)))
    try:
        spec = importlib.util.find_spec("codegreen_runtime")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin:
        here = os.path.dirname(spec.origin)
        dirs += [here, os.path.join(here, "codegreen")]
    for d in dirs:
        for suffix in _imp.extension_suffixes():
            path = os.path.join(d, "_codegreen_fast" + suffix)
            if os.path.exists(path):
                try:
                    module = _imp.create_dynamic(
                        importlib.util.spec_from_file_location("_codegreen_fast", path))
                    _imp.exec_dynamic(module)
                except (ImportError, OSError):
                    continue
                if hasattr(module, "move_linetable"):
                    return module
    return None


def code_mover(lines, pos, line_only, source=None, fast=None):
    """move(code): the code object and those nested in it with the user's positions. The new
    co_linetable (3.11+) follows Objects/locations.md: each entry covers 1-8 code units, its
    first byte is 0x80 | code << 3 | (units - 1); code 15 no location, 13 a line without columns
    (svarint line delta), 0-9 the short form (same line, column // 8 in the code, then
    (column % 8) << 4 | width < 16), 10-12 the one-line form (line delta code - 10, then the
    column and end column bytes, < 128 as every byte after the first has its top bit clear), 14
    the long form (svarint line delta, varint end line delta, varint column + 1, varint end
    column + 1, 0 meaning none). A varint is 6-bit chunks, least significant first, bit 6 set on
    all but the last; a svarint is (-v << 1) | 1 for a negative v, else v << 1, as a varint. Line
    deltas are from the previous entry's line (co_firstlineno for the first); an entry without a
    location leaves it as it is. With FAST (the _codegreen_fast module) and SOURCE (the
    instrumented text LINES describe), each table is moved in C, with the same result."""
    code_type = type(code_mover.__code__)
    class_first_line_ = class_first_line if sys.version_info >= (3, 13) else None
    fmap = fast.linemap(lines, source) if fast is not None and source is not None else None
    if fmap is None:
        fast = None
    import itertools
    groupby = itertools.groupby
    cache = {}
    get = cache.get
    # per instrumented line, its last segment: the column it starts at (a position on one line
    # from there on is moved here without a call), the user's line, and the column shift (a
    # copy of the user's text) or None and the user's column (inserted text: one point)
    simple_from, simple_line, simple_shift, simple_col = [1 << 30], [0], [0], [0]
    for segs in (lines if fast is None else ()):
        last = segs[-1] if segs else (1 << 30, 0, 0, 0)
        simple_from.append(last[0])
        simple_line.append(last[1])
        simple_shift.append(None if last[3] else last[2] - last[0])
        simple_col.append(last[2])
    n_lines = len(lines)

    def varint(out, v):
        while v >= 64:
            out.append(0x40 | (v & 63))
            v >>= 6
        out.append(v)

    def move(code, top):
        consts = code.co_consts
        new_consts = None
        for i, c in enumerate(consts):
            if type(c) is code_type:
                if new_consts is None:
                    new_consts = list(consts)
                new_consts[i] = move(c, False)
        if fast is not None:
            try:
                first, table = fast.move_linetable(fmap, code.co_linetable, code.co_firstlineno,
                                                   top)
            except ValueError as e:
                raise NotExact(str(e))
            if class_first_line_ and "__firstlineno__" in code.co_names:
                new_consts = class_first_line(code, new_consts or list(consts), first)
            if new_consts is not None:
                return code.replace(co_firstlineno=first, co_linetable=table,
                                    co_consts=tuple(new_consts))
            return code.replace(co_firstlineno=first, co_linetable=table)
        # A module's first line is 1 whatever its statements; a function's, class's, lambda's
        # or comprehension's is its node's line (a decorated one's, its first decorator's).
        first = code.co_firstlineno if top else line_only(code.co_firstlineno)
        out = bytearray()
        put = out.append
        prev = first
        for p, units in groupby(code.co_positions()):
            n = len(list(units))
            line, end_line, col, end_col = p
            if line is not None and line == end_line and 0 < line <= n_lines \
                    and col is not None and end_col is not None \
                    and simple_from[line] <= col <= end_col:
                shift = simple_shift[line]
                if shift is None:
                    col = end_col = simple_col[line]
                else:
                    col += shift
                    end_col += shift
                line = end_line = simple_line[line]
            else:
                q = get(p)
                if q is None:
                    q = cache[p] = pos(p)
                line, end_line, col, end_col = q
            while n > 0:
                k = 8 if n > 8 else n
                n -= k
                head = 0x80 | (k - 1)
                if line is None:
                    put(head | 0x78)  # 15: no location
                    continue
                d = line - prev
                prev = line
                if end_line == line and col is not None and d == 0 and col < 80 \
                        and 0 <= end_col - col < 16:
                    put(head | (col >> 3) << 3)  # short form
                    put((col & 7) << 4 | (end_col - col))
                elif end_line == line and col is not None and 0 <= d <= 2 and col < 128 \
                        and col <= end_col < 128:
                    put(head | (10 + d) << 3)  # one-line form
                    put(col)
                    put(end_col)
                elif col is None and end_line == line:
                    put(head | 13 << 3)  # no column
                    varint(out, (-d) << 1 | 1 if d < 0 else d << 1)
                else:
                    put(head | 14 << 3)  # long form
                    varint(out, (-d) << 1 | 1 if d < 0 else d << 1)
                    varint(out, end_line - line)
                    varint(out, 0 if col is None else col + 1)
                    varint(out, 0 if end_col is None else end_col + 1)
        if class_first_line_ and "__firstlineno__" in code.co_names:
            new_consts = class_first_line(code, new_consts or list(consts), first)
        if new_consts is not None:
            return code.replace(co_firstlineno=first, co_linetable=bytes(out),
                                co_consts=tuple(new_consts))
        return code.replace(co_firstlineno=first, co_linetable=bytes(out))

    return move


def class_first_line(code, consts, first):
    """3.13+: a class body stores its first line, `LOAD_CONST k; STORE_NAME __firstlineno__`
    (inspect reads it): consts[k] becomes FIRST. NotExact where the constant serves another
    instruction too or FIRST is a constant already (the round trip's compile would share one)."""
    import dis
    ins = [i for i in dis.get_instructions(code) if i.opname != "CACHE"]
    found = [a for a, b in zip(ins, ins[1:])
             if a.opname == "LOAD_CONST" and b.opname == "STORE_NAME"
             and b.argval == "__firstlineno__"]
    if not found:
        return consts
    if len(found) != 1:
        raise NotExact("several __firstlineno__")
    k = found[0].arg
    uses = sum(1 for i in ins if i.opcode in dis.hasconst and i.arg == k)
    if uses != 1 or type(consts[k]) is not int \
            or any(type(c) is int and c == first for c in consts):
        raise NotExact("__firstlineno__'s constant is shared")
    consts[k] = first
    return consts


def prologue_line(text_lines):
    """The instrumented line (1-based) of the runtime's prelude, which the engine puts right
    after the docstring and `from __future__` imports, where insert_at_prologue() puts the
    fixups; NotExact when it is not there or not right after them."""
    import ast
    for i, t in enumerate(text_lines):
        if t.startswith(PRELUDE):
            break
    else:
        raise NotExact("no prelude")
    head = b"\n".join(text_lines[:i])
    try:
        body = ast.parse(head).body
    except (SyntaxError, ValueError):
        raise NotExact("the head does not parse alone")
    k = 0
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        k = 1
    while k < len(body) and isinstance(body[k], ast.ImportFrom) \
            and body[k].module == "__future__":
        k += 1
    if k != len(body):
        raise NotExact("the prelude is not right after the docstring and future imports")
    return i + 1


def compile_fast(source, lines, filename, fixup_text):
    """(code, warnings caught, mapper for warnings' lines) of the instrumented SOURCE (bytes) with
    the user's positions, FIXUP_TEXT (or None) inserted as insert_at_prologue() inserts it.
    Raises NotExact (or anything compile() raises) when the round trip must do it."""
    import warnings
    if not FAST_PATH or b"aiter(" in source or b"acontext(" in source:
        raise NotExact("not on this interpreter, or async wrappers")
    if source.count(b"\r") != source.count(b"\r\n"):
        raise NotExact("a line ends with a lone CR")  # Python's line, not a split at LF
    text_lines = source.split(b"\n")
    if fixup_text is not None:
        at = prologue_line(text_lines)
        anchor = make_mapper(lines)(at, 0)[0]
        fix = fixup_text.encode("utf-8").rstrip(b"\n").split(b"\n")
        text_lines[at - 1:at - 1] = fix
        lines = lines[:at - 1] + [[[0, anchor, 0, 1]]] * len(fix) + lines[at - 1:]
        source = b"\n".join(text_lines)
    mapper = make_mapper(lines)
    line_only = line_only_mapper(lines, text_lines)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = at_plain_limit(compile, source, filename, "exec", dont_inherit=True)
    for w in caught:
        # the round trip gives the parser's warnings mapper(line, 0) and the compiler's the
        # node's line: both must be the same line
        if w.filename == filename and mapper(w.lineno, 0)[0] != line_only(w.lineno):
            raise NotExact("a warning's line")
    if not FAST_MOVER:
        FAST_MOVER.append(load_fast())
    code = code_mover(lines, position_mapper(lines, line_only), line_only, source,
                      FAST_MOVER[0])(code, True)
    return code, caught, mapper


def reissue_warnings(caught, filename, mapper, argv0):
    """Issues again the warnings CAUGHT while compiling the instrumented text of the user's
    FILENAME (invalid escape sequences, ...), with the user's lines (MAPPER: instrumented
    line/column -> the user's). 0; 1 when the user's filters make one an error
    (PYTHONWARNINGS=error), which Python reports as the file's SyntaxError: printed here, by
    check(ARGV0). Re-raises the warning if the user's file compiles after all."""
    import warnings
    try:
        for w in caught:
            line = w.lineno
            if w.filename == filename:
                line = mapper(w.lineno, 0)[0]
            warnings.warn_explicit(w.message, w.category, w.filename, line)
    except Warning:
        if check(argv0) != 0:
            return 1
        raise
    return 0


def compile_instrumented(instrumented, linemap, argv0, tmpdir, runtime, output):
    import gc
    import threading
    # Millions of syntax-tree objects, none of them garbage: the collector would only slow the
    # step down (it ran for most of the time on big files).
    gc.disable()
    # The round trip of the syntax tree through Python objects recurses once per nesting level
    # (a long chain of `+` or `elif`); CPython's own compile of the file does not count them
    # against the recursion limit, so neither may this.
    if not PLAIN_LIMIT:
        PLAIN_LIMIT.append(sys.getrecursionlimit())
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 100000))
    threading.stack_size(512 * 1024 * 1024)
    box = []
    t = threading.Thread(target=lambda: box.append(
        compile_instrumented_in_thread(instrumented, linemap, argv0, tmpdir, runtime, output)))
    t.start()
    t.join()
    return box[0] if box else 3


def compile_instrumented_in_thread(instrumented, linemap, argv0, tmpdir, runtime, output):
    import importlib.util
    import json
    import marshal

    filename = user_filename(argv0)
    with open(instrumented, "rb") as f:
        source = f.read()
    with open(linemap, "r") as f:
        lines = json.load(f)["lines"]
    try:
        code, caught, mapper = compile_fast(source, lines, filename,
                                            fixups(argv0, filename, tmpdir, runtime, output))
    except RecursionError:  # too deep for a plain run, or only the instrumented copy is
        rc = plain_status(argv0)
        if rc != 0:
            return rc
        code = None
    except Exception:  # NotExact, or an error the round trip reports as it always has
        code = None
    if code is None:
        try:
            code = compile_round_trip(source, lines, argv0, filename, tmpdir, runtime, output)
        except RecursionError as e:
            rc = plain_status(argv0)
            if rc != 0:
                return rc
            sys.stderr.write("codegreen: internal error: the instrumented copy of %s does not "
                             "compile although the original does; please report it with the "
                             "file.\n  %s: %s\n" % (argv0, type(e).__name__, e))
            return 3
        if isinstance(code, int):
            return code
    elif reissue_warnings(caught, filename, mapper, argv0) != 0:
        return 1
    data = bytearray(importlib.util.MAGIC_NUMBER)
    data.extend(b"\0\0\0\0")  # flags: timestamp-based, but never checked for a file run as main
    data.extend(b"\0" * 8)
    data.extend(marshal.dumps(code))
    if importlib.util.find_spec(runtime) is None:
        sys.stderr.write("codegreen: %s (Python %s) cannot import %s: install codegreen's Python "
                         "package for it, or set CODEGREEN_PYTHON_DIR to the directory that "
                         "holds %s.py\n" % (sys.executable, sys.version.split()[0], runtime,
                                             runtime))
        return 4
    with open(output, "wb") as f:
        f.write(data)
    return 0


def compile_round_trip(source, lines, argv0, filename, tmpdir, runtime, output):
    """The code object through the syntax tree's round trip, or the exit status."""
    import ast
    import warnings
    mapper = make_mapper(lines)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            tree = ast.parse(source, filename)
        except (SyntaxError, ValueError) as e:
            tree = None
            error = e
    if reissue_warnings(caught, filename, mapper, argv0) != 0:
        return 1
    if tree is None:
        if check(argv0) != 0:
            return 1
        sys.stderr.write("codegreen: internal error: the instrumented copy of %s does not "
                         "compile although the original does; please report it with the file.\n"
                         "  %s: %s\n" % (argv0, type(error).__name__, error))
        return 3
    at_statement(tree, remap(tree, mapper))
    insert_at_prologue(tree, ast.parse(fixups(argv0, filename, tmpdir, runtime, output)).body)
    try:
        try:
            code = compile_within_limits(tree, filename, plain=True)
        except RecursionError:  # too deep for a plain run, or only the instrumented copy is
            rc = plain_status(argv0)
            if rc != 0:
                return rc
            code = compile_within_limits(tree, filename)
    except (SyntaxError, ValueError) as e:
        if check(argv0) != 0:
            return 1
        sys.stderr.write("codegreen: internal error: the instrumented copy of %s does not "
                         "compile although the original does; please report it with the file.\n"
                         "  %s: %s\n" % (argv0, type(e).__name__, e))
        return 3
    return code


def compile_module(instrumented, linemap, path, output):
    """One module of the program (not the script): compiled with its own path as the file name,
    no fixups. False, and nothing written, when it cannot be done silently (it does not compile,
    or its parse warns: then Python compiles it at import, and warns then, as in a plain run)."""
    import ast
    import json
    import marshal
    import warnings
    with open(instrumented, "rb") as f:
        source = f.read()
    with open(linemap, "r") as f:
        lines = json.load(f)["lines"]
    try:
        code, caught, _ = compile_fast(source, lines, path, None)
    except RecursionError:  # imported as it is when a plain import's compile fails too
        with open(path, "rb") as f:
            if not compiles_plainly(f.read(), path):
                return False
        code = None
    except Exception:  # NotExact, or an error: the round trip decides
        code = None
    if code is None:
        mapper = make_mapper(lines)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                tree = ast.parse(source, path)
                at_statement(tree, remap(tree, mapper))
                try:
                    code = compile_within_limits(tree, path, plain=True)
                except RecursionError:  # as it is when a plain import's compile fails too
                    with open(path, "rb") as f:
                        if not compiles_plainly(f.read(), path):
                            return False
                    code = compile_within_limits(tree, path)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return False
    if caught:
        return False
    import importlib.util
    data = bytearray(importlib.util.MAGIC_NUMBER) + b"\0" * 12 + marshal.dumps(code)
    with open(output, "wb") as f:
        f.write(data)
    return True


def compile_list(listing, out):
    """compile-list LIST OUT: LIST has one line per module, "path TAB instrumented TAB map TAB
    pyc"; OUT receives "path TAB pyc" for those compiled (the runtime's import hook reads it)."""
    import gc
    import threading
    gc.disable()
    if not PLAIN_LIMIT:
        PLAIN_LIMIT.append(sys.getrecursionlimit())
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 100000))
    threading.stack_size(512 * 1024 * 1024)
    done = []

    def work():
        with open(listing, "r", encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 4 and compile_module(parts[1], parts[2], parts[0], parts[3]):
                    done.append("%s\t%s\n" % (parts[0], parts[3]))

    t = threading.Thread(target=work)
    t.start()
    t.join()
    with open(out, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.writelines(done)
    return 0


def zip_list(archive, out_dir, listing):
    import os
    import zipfile
    base = os.path.realpath(archive)
    lines = []
    try:
        with zipfile.ZipFile(archive) as z:
            os.makedirs(out_dir, mode=0o700, exist_ok=True)
            for i, info in enumerate(z.infolist()):
                name = info.filename
                if not name.endswith(".py") or info.is_dir() or "__pycache__" in name.split("/"):
                    continue
                key = os.path.realpath(os.path.join(base, name))
                if "\t" in key or "\n" in key:
                    continue
                path = os.path.join(out_dir, "z%d.py" % i)
                with open(path, "wb") as f:
                    f.write(z.read(info))
                lines.append("%s\t%s\n" % (key, path))
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError, EOFError):
        return 1
    with open(listing, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.writelines(lines)
    return 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "check" and len(argv) == 3:
        return check(argv[2])
    if len(argv) == 5 and argv[1] == "zip-list":
        return zip_list(argv[2], argv[3], argv[4])
    if len(argv) == 4 and argv[1] == "compile-list":
        return compile_list(argv[2], argv[3])
    if len(argv) == 8 and argv[1] == "compile":
        return compile_instrumented(*argv[2:])
    if len(argv) == 10 and argv[1] == "compile":  # and the program's modules, in one run
        rc = compile_instrumented(*argv[2:8])
        return rc if rc not in (0, AS_IS) else compile_list(argv[8], argv[9]) or rc
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
