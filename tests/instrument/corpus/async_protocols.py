# Tracebacks that pass through async for / async with show no frame of codegreen's, and a broken
# async protocol raises this interpreter's own error (its message; on 3.8 `AttributeError:
# __aexit__`), as in a plain run. The extension's aiter/acontext are C, and ask the interpreter.
# expect-calls: use_for=5 use_with=8 BadNext.__aiter__=1 BadNext.__anext__=1 NoAnext.__aiter__=1 NotAwaitable.__aiter__=1 NotAwaitable.__anext__=1 BadEnterResult.__aenter__=1 Fine.__aenter__=1 Fine.__aexit__=1 FailEnter.__aenter__=1 main=1 drive=9
import traceback


class BadNext:
    def __aiter__(self):
        return self

    async def __anext__(self):
        raise ValueError("from __anext__")


class NoAnext:
    def __aiter__(self):
        return 5


class NotAwaitable:
    def __aiter__(self):
        return self

    def __anext__(self):
        return 42


class NoExit:
    async def __aenter__(self):
        return self


class FailEnter:
    async def __aenter__(self):
        raise KeyError("enter")

    async def __aexit__(self, *exc):
        return False


class BadEnterResult:
    def __aenter__(self):
        return 7

    async def __aexit__(self, *exc):
        return False


class Fine:
    async def __aenter__(self):
        return "value"

    async def __aexit__(self, t, v, tb):
        return t is ZeroDivisionError  # suppresses that one


async def use_for(obj):
    async for x in obj:
        print("item", x)


async def use_with(obj, fail):
    async with obj as v:
        print("inside", v)
        if fail:
            1 / 0
    print("after")


def drive(coro):
    try:
        coro.send(None)
    except StopIteration:
        print("done")
    except Exception:
        print(traceback.format_exc(), end="")


def main():
    for obj in (BadNext(), NoAnext(), NotAwaitable(), 5):
        drive(use_for(obj))
    for obj in (NoExit(), FailEnter(), BadEnterResult(), 5):
        drive(use_with(obj, False))
    drive(use_with(Fine(), True))


main()
