#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""Module docstring: stays the module's __doc__."""
from __future__ import annotations

# expect-calls: annotated=1 Doc.method=1 only_doc=1
import typing


def annotated(x: SomeUndefinedType) -> AnotherOne:  # noqa: F821 - strings under the future import
    """Function docstring."""
    return x


class Doc:
    """Class docstring."""

    def method(self):
        "Single-quoted docstring."
        return self.method.__doc__


def only_doc():
    """Nothing but a docstring."""


print(__doc__)
print(annotated(1), annotated.__doc__, annotated.__annotations__)
print(Doc.__doc__, Doc().method(), only_doc.__doc__, only_doc())
print(typing.get_type_hints.__name__)
