"""codegreen_instrument - helpers for instrumented code that the codegreen_runtime contract does not
cover: the implicit suspension points of `async for` and `async with`.

`async for x in it` awaits it.__anext__() on every turn and `async with cm` awaits
cm.__aenter__() and cm.__aexit__(); the coroutine is suspended there while other tasks run, so its
measured span must close before each of these awaits and reopen after, as it does around an
explicit `await`. The instrumenter writes

    async for x in _codegreen_support.aiter(it, (id_inner, ..., id_function)):
    async with _codegreen_support.acontext(cm, (ids...)) as v:

where the ids are the open spans around the statement, innermost first. The wrappers keep the
protocol's semantics: the same methods are looked up on the type at the same moment, their
results and exceptions pass through unchanged, and `__aexit__`'s answer still decides whether an
exception is suppressed. The span reopens also when the await ends with an exception
(StopAsyncIteration, cancellation).
"""

import codegreen_runtime as _rt

__all__ = ["aiter", "acontext"]


def _leave(ids):
    for i in ids:
        _rt.exit(i)


def _come_back(ids):
    for i in reversed(ids):
        _rt.enter(i)


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
        enter = getattr(t, "__aenter__", None)
        leave = getattr(t, "__aexit__", None)
        if enter is None or leave is None:
            raise TypeError("'%s' object does not support the asynchronous context manager "
                            "protocol" % t.__name__)
        self._cm = cm
        self._enter = enter
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
