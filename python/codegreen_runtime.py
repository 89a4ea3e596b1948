"""codegreen_runtime: what instrumented code imports (``codegreen measure`` puts it on PYTHONPATH).

The reference's two functions, over the C library's checkpoint API::

    checkpoint(checkpoint_id, name, checkpoint_type)        # "enter" or "exit"
    measure_checkpoint(checkpoint_id, checkpoint_type, name, line_number, context)

and the fast path the instrumenter emits, which passes a number instead of strings::

    fid = register(name, context, line)   # once per function
    enter(fid) ... exit(fid)              # per call

Instrumented files reach these through one name in builtins (``install()``), so the module's own
globals stay as the user wrote them, and through three names per file (``publish()``): its id
table and enter/exit by index into it, ``NAME_enter(i)`` ... ``NAME_exit(i)`` around every
function.

Nothing but built-in modules is imported before the program runs (``sys``, ``_thread``,
``atexit``, ``_imp``, and ``os``, which the interpreter loaded at start-up anyway), so a user's
``csv.py`` or ``json.py`` beside the script is never shadowed, and any standard-library module can
itself be instrumented. The rest (the result block's ``json``, the warnings of a failure) is
imported at exit or when something fails.

The session begins on first use (non-exclusive, so a ``codegreen.Session`` in the same program
runs beside it; no file of its own) and ends at exit, when the runtime

- writes the whole report JSON (with ``functions`` and ``checkpoints``) to
  ``$CODEGREEN_RESULT_FILE`` and prints nothing, when that variable is set (the CLI's way: the
  program's own stdout stays untouched); else
- prints the reference's block to stdout::

      --- CODEGREEN_RESULT_START ---
      {"measurements": [{"checkpoint_id": ..., "timestamp": ..., "joules": ..., "watts": ...}]}
      --- CODEGREEN_RESULT_END ---

The hot path is the ``_codegreen_fast`` C extension (one abi3 binary for CPython 3.8+) when it is
found beside this file or beside the library; otherwise ctypes (``IMPLEMENTATION`` says which; the
report's ``python_hot_path`` too). A forked child under ``codegreen measure`` measures itself, as
a spawned child does (see ``_after_fork_in_child``); otherwise in a forked child every call does
nothing and nothing is written at exit. Without the native library, likewise, after one warning
(and an empty result at exit).

Under ``codegreen measure``, the runtime undoes what measure added to the environment
(``CODEGREEN_MEASURE_SET`` names the variables, ``CODEGREEN_MEASURE_ORIG_<NAME>`` their values
before, ``CODEGREEN_MEASURE_PYTHONPATH`` the user's own PYTHONPATH) and removes the directories measure put on ``sys.path``, once the session has
begun: the program and its children see the environment of a plain run. measure's
``--carbon-intensity`` (``CODEGREEN_MEASURE_CARBON_INTENSITY``) is in ``CODEGREEN_CARBON_INTENSITY``
only while a session of this process begins.
"""

import _thread
import atexit
import os
import sys

__all__ = ["checkpoint", "measure_checkpoint", "register", "enter", "exit", "install", "publish",
           "IMPLEMENTATION"]

RESULT_START = "--- CODEGREEN_RESULT_START ---"
RESULT_END = "--- CODEGREEN_RESULT_END ---"
LIB_NAMES = ("libcodegreen-nemb.so", "libcodegreen-nemb.so.0")

_lock = _thread.RLock()
_state = "unstarted"  # -> "active" -> "ended"; or "disabled" (no library, forked child)
_error = None          # why the library could not be loaded or the session not begun
_forked = False        # this process is a forked child of the one that began the session
_result_file = os.environ.get("CODEGREEN_RESULT_FILE")
_modules_file = os.environ.get("CODEGREEN_MEASURE_MODULES")
# Under `codegreen measure` the runtime is imported by measure's sitecustomize (unless python
# runs with -S), before python puts the program's directory first on sys.path. The program
# measure started is the process whose parent is measure (CODEGREEN_MEASURE_PPID), named
# CODEGREEN_MEASURE_BOOT; every other process that imports the runtime that way is one of its
# children (subprocess, multiprocessing spawn or forkserver): measured too, its report written
# as CODEGREEN_MEASURE_CHILDREN/<pid>.json for measure to merge.
_child = "CODEGREEN_MEASURE_PPID" in os.environ and \
    os.environ["CODEGREEN_MEASURE_PPID"] != str(os.getppid())
_boot_name = None if _child else os.environ.get("CODEGREEN_MEASURE_BOOT")
if _child:
    _result_file = os.path.join(os.environ.get("CODEGREEN_MEASURE_CHILDREN", "."),
                                "%d.json" % os.getpid())
# Where this process's forked children write their reports (under `codegreen measure`; read now:
# the program's os.environ loses measure's variables once the session begins).
_children_dir = os.environ.get("CODEGREEN_MEASURE_CHILDREN") if "CODEGREEN_MEASURE_PPID" in \
    os.environ else None
# "real path TAB compiled copy" of the script (not in the modules' table: the program's own
# run is the .pyc); multiprocessing's spawn runs it again in its workers through runpy.run_path
_main_entry = os.environ.get("CODEGREEN_MEASURE_MAIN", "").partition("\t")[::2]
_here = os.path.dirname(os.path.abspath(__file__))
# `codegreen measure --carbon-intensity G` passes G under its own name: the library reads
# CODEGREEN_CARBON_INTENSITY when a session begins, so the runtime puts G there only while this
# process's session begins (_begin_with_carbon), and the program and its children, measured or
# not, see the variable as the user left it (their own value, or none).
_measure_carbon = os.environ.get("CODEGREEN_MEASURE_CARBON_INTENSITY")


def _lib_candidates():
    """Where libcodegreen-nemb may be, in codegreen._native's order (without its last resort,
    ctypes.util.find_library, which starts a process)."""
    env = os.environ.get("CODEGREEN_LIB_PATH")
    if env:
        if os.path.isdir(env):
            return [os.path.join(env, n) for n in LIB_NAMES]
        return [env]
    pkg = os.path.join(_here, "codegreen")
    # pkg/lib: where `pip install` puts it (codegreen/bin/codegreen uses it too)
    found = [os.path.join(d, n) for d in (os.path.join(pkg, "lib"), pkg, _here) for n in LIB_NAMES
             if os.path.exists(os.path.join(d, n))]
    found.append("libcodegreen-nemb.so.0")  # the dynamic loader's search (ld.so.cache, ...)
    return found


class _Spec(object):
    """The two attributes _imp.create_dynamic() reads of a module spec."""

    def __init__(self, name, origin):
        self.name = name
        self.origin = origin


def _load_extension():
    """The _codegreen_fast module (beside this file, its package, or the library), or None.
    ``CODEGREEN_RUNTIME_CTYPES=1`` refuses it, to exercise the fallback."""
    if os.environ.get("CODEGREEN_RUNTIME_CTYPES", "") not in ("", "0"):
        return None
    import _imp
    dirs = [_here, os.path.join(_here, "codegreen")]
    env = os.environ.get("CODEGREEN_LIB_PATH")
    if env:
        dirs.insert(0, env if os.path.isdir(env) else os.path.dirname(os.path.abspath(env)))
    for d in dirs:
        for suffix in _imp.extension_suffixes():
            path = os.path.join(d, "_codegreen_fast" + suffix)
            if not os.path.exists(path):
                continue
            try:
                module = _imp.create_dynamic(_Spec("_codegreen_fast", path))
                _imp.exec_dynamic(module)
                return module
            except (ImportError, OSError):
                continue
    return None


_fast = _load_extension()
_native = None  # codegreen._native, on the ctypes path
if _fast is not None:
    try:
        _fast.load(_lib_candidates())
    except OSError as e:
        _error = "libcodegreen-nemb.so could not be loaded (%s)" % e
else:
    from codegreen import _native
    if _native.load() is None:
        _error = _native.load_error()

#: "extension" (the C module) or "ctypes": which hot path this process uses.
IMPLEMENTATION = "extension" if _fast is not None else "ctypes"


def _warn(message):
    """A RuntimeWarning at the program's place: its line that called the runtime, else (the
    runtime began at start-up, under measure's sitecustomize) the program itself."""
    if _child:
        return  # a child of a measured program: the program's report says what was measured
    import warnings
    frame = sys._getframe(1)
    # the first frame that is neither the runtime's, nor importlib's, nor measure's boot shim
    while frame is not None and (frame.f_code.co_filename == _warn.__code__.co_filename or
                                 frame.f_code.co_filename.startswith("<frozen ") or
                                 frame.f_globals.get("__name__") == "sitecustomize"):
        frame = frame.f_back
    if frame is not None:
        g = frame.f_globals
        warnings.warn_explicit("codegreen_runtime: " + message, RuntimeWarning,
                               frame.f_code.co_filename, frame.f_lineno,
                               module=g.get("__name__"),
                               registry=g.setdefault("__warningregistry__", {}),
                               module_globals=g)
        return
    # Before the program's first line: the program, at line 0 (no line of it is to blame, and
    # no source line is shown under the warning).
    argv = getattr(sys, "argv", None) or [""]
    program = _main_entry[0] or _boot_name or argv[0] or "sys"
    warnings.warn_explicit("codegreen_runtime: " + message, RuntimeWarning, program, 0,
                           module="__main__")


def _session_name():
    if _boot_name:
        return _boot_name
    argv = getattr(sys, "argv", None) or [""]
    if argv[0] in ("-c", "-m"):  # at start-up, python -c CODE or -m NAME
        return "python " + argv[0]
    return os.path.basename(argv[0] or "") or "python"


def _env_pop(name):
    """os.environ.pop(name, None) as the program sees it, leaving the process's environment
    (what children started with the inherited environment get) as it is, so that they are
    measured too."""
    data = getattr(os.environ, "_data", None)
    encode = getattr(os.environ, "encodekey", None)
    if not isinstance(data, dict) or encode is None:
        return os.environ.pop(name, None)
    value = os.environ.get(name)
    data.pop(encode(name), None)
    return value


def _env_set(name, value):
    data = getattr(os.environ, "_data", None)
    encode = getattr(os.environ, "encodekey", None)
    encode_value = getattr(os.environ, "encodevalue", None)
    if not isinstance(data, dict) or encode is None or encode_value is None:
        os.environ[name] = value
    else:
        data[encode(name)] = encode_value(value)


def _begin_with_carbon(begin, *args):
    """begin(*args) with measure's carbon intensity in CODEGREEN_CARBON_INTENSITY, then the
    variable as it was (os.putenv/unsetenv: the process's environment, which the library reads;
    os.environ, the program's view, never held measure's value)."""
    if _measure_carbon is None:
        return begin(*args)
    name = "CODEGREEN_CARBON_INTENSITY"
    before = os.environ.get(name)
    os.putenv(name, _measure_carbon)
    try:
        return begin(*args)
    finally:
        if before is None:
            os.unsetenv(name)
        else:
            os.putenv(name, before)


def _undo_measure_environment():
    """What `codegreen measure` added: its variables, its PYTHONPATH entries and their sys.path
    directories (the library has read the variables when the session began)."""
    names = _env_pop("CODEGREEN_MEASURE_SET")
    if names is None:
        return
    orig = _env_pop("CODEGREEN_MEASURE_PYTHONPATH")
    added = []
    current = os.environ.get("PYTHONPATH")
    if current is not None:
        keep = orig[1:] if orig else ""
        head = current[:len(current) - len(keep)] if keep and current.endswith(keep) else current
        added = [d for d in head.split(os.pathsep) if d]
    for name in names.split(","):
        if name:
            orig_value = _env_pop("CODEGREEN_MEASURE_ORIG_" + name)
            if orig_value is None:
                _env_pop(name)
            else:
                _env_set(name, orig_value)
    if orig:  # "=VALUE": PYTHONPATH was set to VALUE
        _env_set("PYTHONPATH", orig[1:])
    else:
        _env_pop("PYTHONPATH")
    # A directory the program's own PYTHONPATH names too is the program's: site kept one entry
    # for both (it drops duplicates), and removing it lost the user's (`import codegreen` failed
    # under measure with PYTHONPATH=<this tree>/python, as the README sets it).
    own = set(os.path.abspath(d) for d in (orig[1:] if orig else "").split(os.pathsep) if d)
    # imported by sitecustomize, sys.path[0] is not the program's yet
    first = 1 if sys.flags.no_site else 0
    for d in added:
        if os.path.abspath(d) in own:
            continue
        for i in range(first, len(sys.path)):
            if sys.path[i] == d:
                del sys.path[i]
                break


def _install_import_hook(listing):
    """`codegreen measure` compiled the program's own modules (LISTING: "path TAB pyc" lines):
    a finder first on sys.meta_path hands those paths, and only those, to a loader that runs the
    compiled copy (file name, lines and source are still the module's own). Everything else is
    found as before."""
    import _imp
    import marshal
    ext = sys.modules["_frozen_importlib_external"]
    table = {}
    try:
        with open(listing, "r", encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                path, _, pyc = line.rstrip("\n").partition("\t")
                if pyc:
                    table[path] = pyc
    except OSError:
        return
    if not table:
        return

    class Loader(ext.SourceFileLoader):
        def get_code(self, fullname):
            pyc = table.get(os.path.realpath(self.path))
            if pyc is None:
                return super(Loader, self).get_code(fullname)
            with open(pyc, "rb") as f:
                code = marshal.loads(f.read()[16:])
            _imp._fix_co_filename(code, self.path)
            return code

    # What the program may look at (type(module.__loader__)) reads as without codegreen.
    Loader.__name__ = Loader.__qualname__ = "SourceFileLoader"
    Loader.__module__ = ext.SourceFileLoader.__module__

    zipimport = sys.modules.get("zipimport")
    ZipLoader = None
    if zipimport is not None:
        class ZipLoader(zipimport.zipimporter):
            """A zip archive's member (`python app.zip`): the compiled copy, the rest as
            zipimporter does it (get_source, get_data, ...)."""

            def get_code(self, fullname):
                cg = self.__dict__.get("_cg")
                if cg is None or cg[0] != fullname:
                    return super(ZipLoader, self).get_code(fullname)
                with open(cg[1], "rb") as f:
                    code = marshal.loads(f.read()[16:])
                _imp._fix_co_filename(code, cg[2])
                return code

            if not hasattr(zipimport.zipimporter, "exec_module"):  # before 3.10
                def create_module(self, spec):
                    return None

                def exec_module(self, module):
                    exec(self.get_code(module.__name__), module.__dict__)

        ZipLoader.__name__ = ZipLoader.__qualname__ = "zipimporter"
        ZipLoader.__module__ = zipimport.zipimporter.__module__

    class Finder(object):
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            spec = ext.PathFinder.find_spec(name, path, target)
            if spec is None or not spec.origin or spec.loader is None:
                return None
            pyc = table.get(os.path.realpath(spec.origin))
            if pyc is None:
                return None  # whoever finds it without codegreen finds it
            if isinstance(spec.loader, ext.SourceFileLoader):
                spec.loader = Loader(spec.name, spec.origin)
            elif ZipLoader is not None and isinstance(spec.loader, zipimport.zipimporter):
                loader = ZipLoader.__new__(ZipLoader)
                loader.__dict__.update(spec.loader.__dict__)
                loader._cg = (spec.name, pyc, spec.origin)
                spec.loader = loader
            else:
                return None
            return spec

        @classmethod
        def invalidate_caches(cls):
            pass

    sys.meta_path.insert(0, Finder)


def _chain_sitecustomize():
    """Called by the sitecustomize module of `codegreen measure` (python -m NAME, a directory or
    zip file) once this module has begun: hands over to the interpreter's own sitecustomize, if
    it has one, as site would have imported it. Measure's directory is off sys.path by now, so
    the import finds that one; when there is none, its ImportError tells site so, and the
    interpreter goes on as without a sitecustomize."""
    sys.modules.pop("sitecustomize", None)
    import sitecustomize  # noqa: F401


def _start():
    """Begins the runtime's session, once. Safe from any thread."""
    global _state, _error
    with _lock:
        if _state != "unstarted":
            return
        if _error is not None:
            _state = "disabled"
            _undo_measure_environment()
            _warn("%s; checkpoints are not measured" % _error)
            return
        name = _session_name()
        pyver = sys.version.split()[0]  # what platform.python_version() says
        argv = list(getattr(sys, "argv", []))
        if _modules_file:
            _install_import_hook(_modules_file)
        if "CODEGREEN_MEASURE_SET" in os.environ:
            _watch_imports()
        if _fast is not None:
            try:
                _begin_with_carbon(_fast.begin, name, pyver, argv)
                _state = "active"
            except RuntimeError as e:
                _error = str(e)
        else:
            _error = _begin_with_carbon(_ctypes_begin, name, pyver, argv)
            if _error is None:
                _state = "active"
        _undo_measure_environment()
        if _state != "active":
            _state = "disabled"
            _warn("%s" % _error)


# ----- the ctypes path: the same calls through codegreen._native -----

_handle = None         # the C session (ctypes c_void_p) once begun
_sp = None             # the same; None makes every call a no-op
_registered = False    # in the process registry


def _ctypes_begin(name, pyver, argv):
    global _handle, _sp, _registered
    native = _native.load()
    lib = native.lib
    # exclusive=False: beside a user's codegreen.Session, if there is one.
    rc, handle = _native.begin_session(native, name, pyver, list(argv), exclusive=False,
                                       output_format=_native.FORMAT_NONE, save_to_file=False)
    if rc != 0:
        return "cannot begin a session: %s" % native.error_text(rc)
    _handle = handle
    _registered = lib.nemb_procs_register() == 0
    _sp = handle
    return None


def register(name, context=None, line=0):
    """The id of function ``name`` (defined in ``context``, e.g. the file, at ``line``) for
    ``enter()``/``exit()``: the same for the same three values. Begins the session if needed."""
    if _state == "unstarted":
        _start()
    if _state != "active":
        return 0  # enter/exit do nothing then
    native = _native.load()
    fid = _native.ctypes.c_uint32()
    rc = native.lib.nemb_checkpoint_register(
        _handle, str(name).encode("utf-8", "surrogateescape"),
        None if context is None else str(context).encode("utf-8", "surrogateescape"),
        int(line), fid)
    if rc != 0:
        raise RuntimeError("codegreen_runtime.register(%r): %s" % (name, native.error_text(rc)))
    return fid.value


def _invalid(what):
    return ValueError("codegreen_runtime.%s: invalid argument (an unknown function id, or a "
                      "checkpoint_type other than 'enter' or 'exit')" % what)


def _argument_error(what, fid, e):
    # ctypes reports any failure converting an argument as ArgumentError, with the original
    # exception's name in its text: a RecursionError (the program is at the recursion limit) or
    # MemoryError stays what it was; only a wrong id is the caller's TypeError.
    text = str(e)
    if "RecursionError" in text:
        return RecursionError("maximum recursion depth exceeded")
    if "MemoryError" in text:
        return MemoryError()
    return TypeError("codegreen_runtime.%s: the function id must be an int from register(), "
                     "not %s" % (what, type(fid).__name__))


def enter(fid):
    """Entry into the function registered as ``fid``."""
    sp = _sp
    if sp is not None:
        try:
            rc = _c_enter(sp, fid)
        except _native.ctypes.ArgumentError as e:
            raise _argument_error("enter", fid, e) from None
        if rc == -22:  # NEMB_EINVAL
            raise _invalid("enter")


def exit(fid):  # noqa: A001 - the instrumenter's name for it
    """Exit from the function registered as ``fid``."""
    sp = _sp
    if sp is not None:
        try:
            rc = _c_exit(sp, fid)
        except _native.ctypes.ArgumentError as e:
            raise _argument_error("exit", fid, e) from None
        if rc == -22:
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
    if rc == -22:
        raise _invalid("checkpoint")


def checkpoint(checkpoint_id, name, checkpoint_type):
    """Marks a checkpoint in the energy measurement stream (delegates to measure_checkpoint)."""
    measure_checkpoint(checkpoint_id, checkpoint_type, name, 0, None)


if _fast is not None:
    _fast.set_starter(_start)
    register = _fast.register  # noqa: F811
    enter = _fast.enter  # noqa: F811
    exit = _fast.exit  # noqa: F811
    checkpoint = _fast.checkpoint  # noqa: F811
    measure_checkpoint = _fast.measure_checkpoint  # noqa: F811
elif _native.load() is not None:
    _c_enter = _native.load().hot.nemb_checkpoint_enter
    _c_exit = _native.load().hot.nemb_checkpoint_exit
    _c_checkpoint = _native.load().hot.nemb_checkpoint


# ----- what instrumented files call: one name in builtins, one id table per file -----

class _Keeper(object):
    """Rides in a file's id table, which only builtins holds. At interpreter exit CPython restores
    builtins to its state at start-up before it clears the modules, so ``__del__`` methods,
    suspended generators and context managers that run then would no longer find the runtime's
    names: when that restore drops the table, this puts the names back."""

    __slots__ = ("_builtins", "_names")

    def __init__(self, builtins_dict, names):
        self._builtins = builtins_dict
        self._names = names

    def __del__(self):
        for name, value in self._names:
            self._builtins.setdefault(name, value)


_builtins_dict = None
_namespace = None


def install(name):
    """Puts the runtime's namespace in builtins as ``name`` (what the instrumenter calls the
    runtime in the file) and begins the session. Called first by every instrumented file."""
    global _builtins_dict, _namespace
    with _lock:
        if _namespace is None:
            import builtins
            ns = type(sys)("codegreen_runtime")  # a module object that is not in sys.modules:
            # its attributes are not cleared at exit, and `ns.enter` is a module attribute
            # lookup, the fastest kind
            ns.enter = enter
            ns.exit = exit
            ns.register = register
            ns.publish = publish
            ns.aiter = aiter
            ns.acontext = acontext
            _builtins_dict = builtins.__dict__
            _namespace = ns
            _watch_imports()
        _builtins_dict[name] = _namespace
        _published.add(name)
    if _state == "unstarted":
        _start()


def publish(rt, name, context, items=None):
    """Registers a file's functions and puts in builtins what its boundaries call:
    ``name + "_ids"`` (the ids, in table order), ``name + "_enter"`` and ``name + "_exit"``
    (``enter(ids[i])`` and ``exit(ids[i])`` given the table index ``i``), with a _Keeper that
    restores them and the runtime's name ``rt`` if the interpreter's exit removes them.
    ``items``: the functions as one flat tuple, ``(name, line, name, line, ...)``, all defined in
    ``context`` (the file). The earlier form ``publish(rt, name, ids)`` (files instrumented by
    an older codegreen: ids from register(), read as ``name[i]``) puts ``ids`` as ``name``."""
    if items is None:
        ids = context
        _builtins_dict[name] = ids + (_Keeper(_builtins_dict, ((rt, _namespace), (name, ids))),)
        _published.add(name)
        return
    ids = tuple([register(items[k], context, items[k + 1]) for k in range(0, len(items), 2)])
    enter_at, exit_at = _bind(ids)
    names = ((rt, _namespace), (name + "_ids", ids), (name + "_enter", enter_at),
             (name + "_exit", exit_at))
    for n, value in names[2:]:
        _builtins_dict[n] = value
    # the keeper rides in the ids only builtins holds; the boundaries hold no reference to it
    _builtins_dict[name + "_ids"] = ids + (_Keeper(_builtins_dict, names),)
    _published.update(n for n, _ in names[1:])


def _bind_ctypes(ids):
    """enter_at(i), exit_at(i): enter(ids[i]) and exit(ids[i]) on the ctypes path (the same
    checks, without a second Python call)."""
    def enter_at(i):
        sp = _sp
        if sp is not None:
            fid = ids[i]
            try:
                rc = _c_enter(sp, fid)
            except _native.ctypes.ArgumentError as e:
                raise _argument_error("enter", fid, e) from None
            if rc == -22:  # NEMB_EINVAL
                raise _invalid("enter")

    def exit_at(i):
        sp = _sp
        if sp is not None:
            fid = ids[i]
            try:
                rc = _c_exit(sp, fid)
            except _native.ctypes.ArgumentError as e:
                raise _argument_error("exit", fid, e) from None
            if rc == -22:
                raise _invalid("exit")

    return enter_at, exit_at


# the extension's: two builtin functions over a C array of the ids
_bind = _fast.bind if _fast is not None else _bind_ctypes


# ----- the implicit awaits of async for / async with -----
# `async for x in it` awaits it.__anext__() on every turn and `async with cm` awaits
# cm.__aenter__() and cm.__aexit__(); the coroutine is suspended there while other tasks run, so
# its measured span must close before each of these awaits and reopen after, as it does around an
# explicit `await`. The instrumenter writes
#     async for x in _codegreen.aiter(it, (id_inner, ..., id_function)):
#     async with _codegreen.acontext(cm, (ids...)) as v:
# where the ids are the open spans around the statement, innermost first. The wrappers keep the
# protocol's semantics: the same methods are looked up on the type at the same moment, their
# results and exceptions pass through unchanged, and `__aexit__`'s answer still decides whether
# an exception is suppressed. The span reopens also when the await ends with an exception.

def _leave(ids):
    for i in ids:
        exit(i)


def _come_back(ids):
    for i in reversed(ids):
        enter(i)


class _Iterator(object):
    __slots__ = ("_it", "_next", "_ids")

    def __init__(self, it, ids):
        self._it = it
        self._next = type(it).__anext__
        self._ids = ids

    def __aiter__(self):
        return self

    async def __anext__(self):
        _leave(self._ids)
        try:
            return await self._next(self._it)
        finally:
            _come_back(self._ids)


def aiter(obj, ids):  # noqa: A001 - mirrors the builtin
    """The async iterator of ``obj`` (as `async for` gets it), measured per turn."""
    t = type(obj)
    getter = getattr(t, "__aiter__", None)
    if getter is None:
        raise TypeError("'async for' requires an object with __aiter__ method, got %s"
                        % t.__name__)
    it = getter(obj)
    if getattr(type(it), "__anext__", None) is None:
        raise TypeError("'async for' received an object from __aiter__ that does not implement "
                        "__anext__: %s" % type(it).__name__)
    return _Iterator(it, ids)


class _Context(object):
    __slots__ = ("_cm", "_enter", "_exit", "_ids")

    def __init__(self, cm, ids):
        t = type(cm)
        enter_ = getattr(t, "__aenter__", None)
        leave = getattr(t, "__aexit__", None)
        if enter_ is None or leave is None:
            raise TypeError("'%s' object does not support the asynchronous context manager "
                            "protocol" % t.__name__)
        self._cm = cm
        self._enter = enter_
        self._exit = leave
        self._ids = ids

    async def __aenter__(self):
        _leave(self._ids)
        try:
            return await self._enter(self._cm)
        finally:
            _come_back(self._ids)

    async def __aexit__(self, exc_type, exc, tb):
        _leave(self._ids)
        try:
            return await self._exit(self._cm, exc_type, exc, tb)
        finally:
            _come_back(self._ids)


def acontext(cm, ids):
    """``cm`` as `async with` uses it, with its enter and exit awaits measured apart."""
    return _Context(cm, ids)


def _probe(kind, obj):
    """The exception this interpreter raises for a broken async protocol, got by running the
    plain statement on ``obj`` or on a stand-in that hands ``obj`` over (nothing of the user's is
    called again: CPython checks before it calls). For the extension's aiter/acontext."""
    if kind == "aiter":  # obj has no __aiter__
        async def statement():
            async for _ in obj:
                pass
    elif kind == "acontext":  # obj lacks __aenter__ or __aexit__
        async def statement():
            async with obj:
                pass
    else:
        class StandIn(object):
            def __aiter__(self):
                return obj if kind == "anext_missing" else self

            def __anext__(self):
                return obj  # "anext_result": __anext__ gave obj, which cannot be awaited

            def __aenter__(self):
                return obj if kind == "aenter_result" else _Done()

            def __aexit__(self, *exc):
                return obj

        if kind in ("anext_missing", "anext_result"):
            async def statement():
                async for _ in StandIn():
                    pass
        else:
            async def statement():
                async with StandIn():
                    pass
    coro = statement()
    try:
        coro.send(None)
    except BaseException as e:  # noqa: B902 - whatever the interpreter raises is the answer
        e.__traceback__ = None
        return e
    finally:
        coro.close()
    return TypeError("%s: %s" % (kind, type(obj).__name__))


class _Done(object):
    def __await__(self):
        return iter(())


if _fast is not None:
    aiter = _fast.aiter  # noqa: F811
    acontext = _fast.acontext  # noqa: F811
    _fast.set_probe(_probe)


# ----- functions shipped by value -----
# cloudpickle (and the copies joblib, ray, ... carry) ships a function defined in __main__ or a
# dynamic one by value: its code object goes to a process that may have no codegreen, where the
# instrumented code's `_codegreen` and id-table names would raise NameError. So when a module
# named cloudpickle or cloudpickle_fast is imported, the reducer of code objects in its
# _dispatch_table is wrapped: an instrumented code object is replaced by the same function's
# code as the user wrote it (compiled from the file once, matched by name, qualified name and
# first line), so the receiver gets the plain function. Nothing else is touched.

_published = set()  # the builtins names instrumented code reads (install() and publish())
_originals = {}      # file name -> {(name, qualname, first line): code as written}, or None


def _compile_original(filename):
    try:
        with open(filename, "rb") as f:
            source = f.read()
        top = compile(source, filename, "exec", dont_inherit=True)
    except (OSError, SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    code_type = type(top)
    table = {}
    todo = [top]
    while todo:
        code = todo.pop()
        table.setdefault((code.co_name, getattr(code, "co_qualname", None), code.co_firstlineno),
                         code)
        todo.extend(c for c in code.co_consts if type(c) is code_type)
    return table


def _original_code(code):
    """The code of the same function as the user wrote it, for an instrumented one; else
    ``code`` itself."""
    if not any(n in _published for n in code.co_names):
        return code
    filename = code.co_filename
    if filename not in _originals:
        _originals[filename] = _compile_original(filename)
    table = _originals[filename]
    if not table:
        return code
    return table.get((code.co_name, getattr(code, "co_qualname", None), code.co_firstlineno),
                     code)


def _ship_originals(module):
    """Wraps the code-object reducer of a cloudpickle module (module-level or a Pickler
    class's ``_dispatch_table``)."""
    code_type = type(_ship_originals.__code__)
    tables = [module.__dict__.get("_dispatch_table")]
    tables.extend(v.__dict__.get("_dispatch_table") for v in list(module.__dict__.values())
                  if isinstance(v, type))
    for table in tables:
        reduce = table.get(code_type) if isinstance(table, dict) else None
        if reduce is None or getattr(reduce, "_codegreen_original", False):
            continue

        def reduce_original(code, _reduce=reduce):
            return _reduce(_original_code(code))

        reduce_original._codegreen_original = True
        table[code_type] = reduce_original


def _run_main_instrumented(runpy):
    """multiprocessing's spawn runs the script again in each worker (runpy.run_path, as
    __mp_main__): under measure, that gets the compiled copy, so the script's functions are
    measured in the workers too."""
    get = runpy.__dict__.get("_get_code_from_file")
    if get is None or not _main_entry[1] or getattr(get, "_codegreen_original", False):
        return
    import _imp
    import marshal

    def _get_code_from_file(*args):  # (run_name, fname) before 3.12, (fname) since
        result = get(*args)
        code = result[0] if isinstance(result, tuple) else result
        try:
            if os.path.realpath(args[-1]) != _main_entry[0]:
                return result
            with open(_main_entry[1], "rb") as f:
                mine = marshal.loads(f.read()[16:])
        except (OSError, ValueError, TypeError, EOFError):
            return result
        _imp._fix_co_filename(mine, code.co_filename)
        return (mine,) + tuple(result[1:]) if isinstance(result, tuple) else mine

    _get_code_from_file._codegreen_original = True
    runpy._get_code_from_file = _get_code_from_file


# What to do to a module once it has run, by the last part of its name.
_AFTER_IMPORT = {"cloudpickle": _ship_originals, "cloudpickle_fast": _ship_originals,
                 "runpy": _run_main_instrumented}


class _ThenPatch(object):
    """A module's own loader, and its _AFTER_IMPORT patch once the module has run."""

    def __init__(self, loader, patch):
        self._loader = loader
        self._patch = patch

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        spec = module.__spec__
        if spec is not None and spec.loader is self:
            spec.loader = self._loader
        module.__loader__ = self._loader
        self._loader.exec_module(module)
        self._patch(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _AfterImportFinder(object):
    """First on sys.meta_path: for a module named in _AFTER_IMPORT, the spec the other finders
    give, with its loader wrapped; for every other name, None at once."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        patch = _AFTER_IMPORT.get(name.rpartition(".")[2])
        if patch is None:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None) if finder is not cls else None
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _ThenPatch(spec.loader, patch)
                return spec
        return None

    @classmethod
    def invalidate_caches(cls):
        pass


def _watch_imports():
    """Once: patches the modules of _AFTER_IMPORT already imported, and those imported later."""
    if _AfterImportFinder in sys.meta_path:
        return
    for name, module in list(sys.modules.items()):
        patch = _AFTER_IMPORT.get(name.rpartition(".")[2])
        if patch is not None and module is not None:
            patch(module)
    sys.meta_path.insert(0, _AfterImportFinder)


# ----- fork and exit -----

def _after_fork_in_child():
    """A forked child (os.fork(), multiprocessing's fork and forkserver workers). Under
    `codegreen measure` it measures itself as a spawned child does: a session of its own that
    keeps the parent's function ids, its report written as CODEGREEN_MEASURE_CHILDREN/<pid>.json
    at exit, including os._exit(), which multiprocessing's workers end with. Otherwise every call
    does nothing: the parent reports."""
    global _state, _sp, _forked, _lock, _child, _result_file, _in_fork, _fork_child
    global _finishing, _pending_signal
    # Until this hook is done the session here is the parent's copy: a SIGTERM (the handler is
    # inherited) must not end it (its locks and calls in flight belong to threads that do not
    # exist here: the end could wait for them forever). It waits, as during _finish().
    _in_fork = True
    _lock = _thread.RLock()  # another thread of the parent may have held it at the fork
    _finishing = False  # the parent's finish (another thread's, at exit) is not this process's
    try:
        _fork_child = True
        if _state == "active" and _children_dir is not None and _fork_own_session():
            _child = True
            _result_file = os.path.join(_children_dir, "%d.json" % os.getpid())
            os._exit = _exit_after_finish
            return
        _forked = True
        _state = "disabled"
        _sp = None
        if _fast is not None:
            _fast.disable()
    finally:
        _in_fork = False
        # A SIGTERM can reach a child before it first runs (Pool.terminate() right after the
        # fork, on a busy machine): CPython's after-fork step drops it unhandled, and the child
        # would wait forever on the pool's queue. The library's guard saw it.
        if _pending_signal is None:
            _pending_signal = _termination_received() or None
        if _pending_signal is not None:
            _on_termination(_pending_signal, None)


def _fork_own_session():
    """Begins the forked child's session with its parent's functions; False if it cannot."""
    global _handle, _sp, _registered
    name = _session_name()
    pyver = sys.version.split()[0]
    argv = list(getattr(sys, "argv", []))
    if _fast is not None:
        try:
            _begin_with_carbon(_fast.fork_child, name, pyver, argv)
            return True
        except RuntimeError:
            return False
    parent = _handle
    _handle = _sp = None
    _registered = False
    if _begin_with_carbon(_ctypes_begin, name, pyver, argv) is not None:
        return False
    if _native.load().lib.nemb_checkpoint_inherit(_handle, parent) != 0:
        _sp = None
        return False
    return True


_os_exit = os._exit


def _exit_after_finish(status):
    """os._exit in a measured forked child: the report first, then the exit itself."""
    try:
        _finish()
    finally:
        _os_exit(status)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _files_module():
    """codegreen/_files.py, the one Python writer, found beside this file (measure takes the
    package off the program's path before it runs), else imported."""
    mod = sys.modules.get("codegreen._files")
    if mod is not None:
        return mod
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "codegreen", "_files.py")
    if os.path.exists(src):
        ns = {"__name__": "codegreen._files", "__file__": src}
        with open(src) as f:
            exec(compile(f.read(), src, "exec"), ns)

        class _Files(object):
            write_text = staticmethod(ns["write_text"])
        return _Files
    from codegreen import _files
    return _files


def _write_file(path, text):
    # The one Python writer (codegreen/_files.py): a device such as /dev/null is written in
    # place, a regular file replaced whole through a temporary nobody else can plant.
    _files_module().write_text(path, text)


def _result_block(measurements):
    import json
    # The reference's four keys; the report's extra fields (name, type, ...) stay in the report.
    keys = ("checkpoint_id", "timestamp", "joules", "watts")
    rows = ",\n".join(json.dumps({k: m[k] for k in keys if k in m}) for m in measurements)
    body = '{"measurements": [\n%s\n]}' % rows if rows else '{"measurements": []}'
    return "%s\n%s\n%s\n" % (RESULT_START, body, RESULT_END)


def _with_hot_path(text):
    """The report text with ``"python_hot_path"`` (which hot path ran) as its first key."""
    body = text.lstrip()
    if not body.startswith("{"):
        return text
    rest = body[1:].lstrip()
    sep = "" if rest.startswith("}") else ","
    return '{"python_hot_path": "%s"%s %s' % (IMPLEMENTATION, sep, rest)


_finishing = False      # _finish() is running (in some thread of this process)
_pending_signal = None  # a termination signal that came meanwhile: raised when it is done
_in_fork = False        # _after_fork_in_child() is running: a signal waits for it too
_fork_child = False     # a forked child of the process that imported the runtime
# The longest a forked child's report may take once it is told to stop (SIGTERM/SIGHUP): a pool
# worker that Pool.terminate() stops must end whatever its report waits for (a lock the fork
# left held, measure's samples), or the program's terminate() and join() wait with it.
_FORK_FINISH_LIMIT_S = 10


def _finish():
    """At exit: ends the session and writes the result (see the module docstring). A termination
    signal that comes meanwhile (a pool worker told to stop while it exits) waits until the
    result is written, then ends the process as it would have."""
    global _finishing
    if _finishing:
        return
    _finishing = True
    try:
        _finish_once()
    finally:
        _finishing = False
        if _pending_signal is not None:
            _die_of(_pending_signal)


def _codegreen_module(name):
    """codegreen.NAME (codegreen itself for ""), from beside this file when the program's
    sys.path no longer finds it: measure's PYTHONPATH entry was undone at start, and the
    fallback report at exit must not fail for it (it printed an atexit traceback)."""
    import importlib
    full = "codegreen" + ("." + name if name else "")
    try:
        return importlib.import_module(full)
    except ImportError:
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path.insert(0, here)
        try:
            return importlib.import_module(full)
        finally:
            sys.path.remove(here)


def _finish_once():
    global _state, _sp
    with _lock:
        if _forked or _state == "ended":
            return  # a forked child: the parent reports
        if _state == "unstarted":
            _start()  # nothing was checkpointed: still give the CLI a (empty) result
        text = None
        if _state == "active":
            _state = "ended"
            if _fast is not None:
                text = _fast.end()
            else:
                _sp = None
                lib = _native.load().lib
                lib.nemb_session_end(_handle)
                raw = lib.nemb_session_report_json(_handle)
                text = raw.decode("utf-8") if raw is not None else "{}"
                if _registered:
                    lib.nemb_procs_unregister()
        _state = "ended"
        if text is None:
            import json
            _fallback = _codegreen_module("_fallback")
            fb = _fallback.FallbackSession(_session_name(), False, list(getattr(sys, "argv", [])),
                                           _error, _codegreen_module("").__version__)
            fb.end()
            text = json.dumps(fb.report(), indent=2)
    text = _with_hot_path(text)
    try:
        if _result_file:
            _write_file(_result_file, text + "\n")
            return
        import json
        report = json.loads(text)
        measurements = (report.get("checkpoints") or {}).get("measurements") or []
        sys.stdout.write(_result_block(measurements))
        sys.stdout.flush()
    except (OSError, ValueError, ImportError) as e:
        if not _child:  # a child that outlived the measured program has nobody to report to
            sys.stderr.write("codegreen_runtime: cannot write the result: %s\n" % e)


atexit.register(_finish)


# ----- termination signals -----

def _on_termination(signum, frame):
    """SIGTERM/SIGHUP (`codegreen measure` passes them on; `kill`, a closed terminal): the
    measurements are written as at a normal exit, then the signal is raised again with its
    default action, so the process dies of it as it would have without codegreen."""
    global _pending_signal
    _termination_seen()  # the kicks that brought this handler here stop
    if _finishing or _in_fork:
        _pending_signal = signum  # raised once the result is written, or the fork set up
        return
    if _fork_child:
        # A forked child (a pool worker): dies of the signal at once if it comes again, and
        # within _FORK_FINISH_LIMIT_S whatever its report waits for (SIGALRM's default action
        # ends it then, even inside a call that never returns).
        import _signal
        _signal.signal(signum, _signal.SIG_DFL)
        if hasattr(_signal, "alarm"):
            _signal.signal(_signal.SIGALRM, _signal.SIG_DFL)
            _signal.alarm(_FORK_FINISH_LIMIT_S)
    try:
        _finish()
    finally:
        _die_of(signum)


def _die_of(signum):
    import _signal
    _signal.signal(signum, _signal.SIG_DFL)
    os.kill(os.getpid(), signum)


# The library's guard of the Python handler of SIGTERM/SIGHUP (nemb.h, nemb_term_guard()): the
# signal is acted on even when it lands just before a blocking call, or another thread takes it.
# Through the extension, else ctypes; nothing without the library.

def _guard_lib():
    """The ctypes path's library, when it has the guard; else None."""
    if _fast is not None or _native is None or _error is not None:
        return None
    lib = _native.load().lib
    return lib if getattr(lib, "nemb_term_guard", None) is not None else None


def _guard_termination(sig):
    if _fast is not None:
        _fast.guard_termination(sig)
    elif _guard_lib() is not None:
        _guard_lib().nemb_term_guard(sig)


def _termination_seen():
    if _fast is not None:
        _fast.termination_seen()
    elif _guard_lib() is not None:
        _guard_lib().nemb_term_guard_seen()


def _termination_received():
    if _fast is not None:
        return _fast.termination_received()
    return _guard_lib().nemb_term_guard_received() if _guard_lib() is not None else 0


def _install_signal_handlers():
    # _signal, the built-in module under signal.py (which imports enum): nothing a user's file
    # could shadow is imported before the program runs.
    import _signal
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(_signal, name, None)
        # Only a default disposition is taken over: the program's own handler, or an inherited
        # SIG_IGN, stays as it is.
        try:
            if sig is not None and _signal.getsignal(sig) == _signal.SIG_DFL:
                _signal.signal(sig, _on_termination)
                _guard_termination(sig)
        except ValueError:
            return  # not the main thread: the exit handler still writes at a normal exit


_install_signal_handlers()

# Under `codegreen measure` the runtime is imported before the program's first line, even when
# the script itself has nothing to instrument: begin now, so the import hook of the program's
# modules is in place and measure's environment is undone before the program runs.
if "CODEGREEN_MEASURE_SET" in os.environ:
    _start()
