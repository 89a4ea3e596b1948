# match statements, line continuations, multi-line signatures, non-ASCII identifiers, walrus,
# f-strings with nested quotes, positional-only and keyword-only parameters, one-line bodies.
# expect-calls: describe=4 long_signature=1 grüße=1 Ñandú.größe=1 one_liner=2 doc_and_code=1 semi=1 walrus=1 fstrings=1
import sys


def describe(value):
    match value:
        case {"kind": "point", "x": x, "y": y}:
            return f"point {x},{y}"
        case [first, *rest] if rest:
            return f"list starting {first} with {len(rest)} more"
        case int() | float() as number:
            return "number " + str(number)
        case _:
            return "something else"


def long_signature(a,
                   b=2, /,
                   *args,
                   c: int = 3,
                   **kwargs) -> \
        int:
    total = a + \
        b + \
        c
    return total + len(args) + len(kwargs)


def grüße(name):
    return "grüß dich, " + name


class Ñandú:
    def größe(self):
        return "groß"


def one_liner(x): return x * 2
def doc_and_code(): "doc"; return doc_and_code.__doc__
def semi(): a = 1; b = 2; return a + b


def walrus(values):
    if (n := len(values)) > 2:
        return n
    return -1


def fstrings(d):
    return f"{d['key']!r:>10} {'nested'} {len(d):{'>'}{4}} {sys.maxsize > 0}"


print(describe({"kind": "point", "x": 1, "y": 2}), describe([1, 2, 3]), describe(2.5), describe("x"))
print(long_signature(1, 2, 3, c=4, d=5))
print(grüße("welt"), Ñandú().größe())
print(one_liner(2), one_liner(3), doc_and_code(), semi(), walrus([1, 2, 3]))
print(fstrings({"key": "v"}))
