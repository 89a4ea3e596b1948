"""runner.py - codegreen's compile step for Python, run by `codegreen measure` with the program's
own interpreter before the program itself.

    python runner.py compile INSTRUMENTED LINEMAP ARGV0 TMPDIR RUNTIME OUTPUT_PYC
    python runner.py check ARGV0

compile: parses the instrumented source, moves every position in its syntax tree back to the
user's file (the line map from the engine: instrumented line/column -> original line/column),
adds what makes a .pyc behave like `python ARGV0` (sys.argv[0], sys.path[0], __file__,
__loader__), compiles with the user's file name and writes OUTPUT_PYC. Running that .pyc then
shows the user's file, lines and columns in tracebacks, warnings and inspect, with no frame of
codegreen's in between. Warnings the parser raises come out once, here, with the user's lines.
Exit status: 0; 1 when the user's file itself does not compile (Python's own message is
printed, as `python ARGV0` would print it); 3 when only the instrumented file fails to compile
(an instrumenter bug: the message says so); 4 when the module RUNTIME cannot be imported.

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

Limits are CPython's own, not lower: the syntax tree's round trip through Python objects runs
with a raised recursion limit (a 1000-term expression or elif chain compiles), and where the
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


def check(argv0):
    filename = user_filename(argv0)
    with open(argv0, "rb") as f:
        source = f.read()
    try:
        compile(source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:
        print_syntax_error(e)
        return 1
    return 0


def make_mapper(lines):
    import bisect
    starts = [[seg[0] for seg in segs] for segs in lines]

    def mapper(line, col):
        if line is None or line < 1 or line > len(lines) or not lines[line - 1]:
            return line, col
        segs = lines[line - 1]
        i = bisect.bisect_right(starts[line - 1], col) - 1
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


def is_call(node, rt, attr):
    import ast
    call = getattr(node, "value", None) if isinstance(node, ast.Expr) else None
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
        and call.func.attr == attr and isinstance(call.func.value, ast.Name) \
        and call.func.value.id == rt


def guards(tree, rt):
    """Every guard `ENTER; try: BODY finally: EXIT` the instrumenter wrote: (depth in nested
    blocks, is a loop's, the statement list, the index of ENTER)."""
    import ast
    found = []

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
                if isinstance(st, ast.Try) and i > 0 and is_call(stmts[i - 1], rt, "enter") \
                        and st.finalbody and is_call(st.finalbody[0], rt, "exit"):
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


def compile_within_limits(tree, filename):
    """compile(), leaving out the innermost guards while CPython's block limit is exceeded."""
    import copy
    rt = None
    for attempt in range(10000):
        try:
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


def compile_instrumented(instrumented, linemap, argv0, tmpdir, runtime, output):
    import gc
    import threading
    # Millions of syntax-tree objects, none of them garbage: the collector would only slow the
    # step down (it ran for most of the time on big files).
    gc.disable()
    # The round trip of the syntax tree through Python objects recurses once per nesting level
    # (a long chain of `+` or `elif`); CPython's own compile of the file does not count them
    # against the recursion limit, so neither may this.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 100000))
    threading.stack_size(512 * 1024 * 1024)
    box = []
    t = threading.Thread(target=lambda: box.append(
        compile_instrumented_in_thread(instrumented, linemap, argv0, tmpdir, runtime, output)))
    t.start()
    t.join()
    return box[0] if box else 3


def compile_instrumented_in_thread(instrumented, linemap, argv0, tmpdir, runtime, output):
    import ast
    import importlib.util
    import json
    import marshal
    import warnings

    filename = user_filename(argv0)
    with open(instrumented, "rb") as f:
        source = f.read()
    with open(linemap, "r") as f:
        lines = json.load(f)["lines"]
    mapper = make_mapper(lines)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            tree = ast.parse(source, filename)
        except (SyntaxError, ValueError) as e:
            tree = None
            error = e
    # Warnings of the parser (invalid escape sequences, ...) carry instrumented lines.
    try:
        for w in caught:
            line = w.lineno
            if w.filename == filename:
                line = mapper(w.lineno, 0)[0]
            warnings.warn_explicit(w.message, w.category, w.filename, line)
    except Warning:
        # The user's filters make it an error, which Python reports as the file's SyntaxError.
        if check(argv0) != 0:
            return 1
        raise
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
        code = compile_within_limits(tree, filename)
    except (SyntaxError, ValueError) as e:
        if check(argv0) != 0:
            return 1
        sys.stderr.write("codegreen: internal error: the instrumented copy of %s does not "
                         "compile although the original does; please report it with the file.\n"
                         "  %s: %s\n" % (argv0, type(e).__name__, e))
        return 3
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
        mapper = make_mapper(json.load(f)["lines"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            tree = ast.parse(source, path)
            at_statement(tree, remap(tree, mapper))
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
        return rc if rc != 0 else compile_list(argv[8], argv[9])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
