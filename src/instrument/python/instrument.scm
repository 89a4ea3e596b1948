; instrument.scm - what codegreen instruments in Python, as tree-sitter queries.
;
; The engine reads only the capture names; see src/instrument/README.md for the full list.
; Captures whose name starts with "_" are helpers for predicates and are ignored.

; ----- functions: def, async def, methods, nested functions (lambdas stay intact) -----

(function_definition
  name: (identifier) @function.name
  body: (block) @function.body) @function

(function_definition "async") @async

; Kinds named by decorators; "method" and "nested function" come from where the def sits.
(decorated_definition
  (decorator (identifier) @_d)
  definition: (function_definition) @kind.staticmethod
  (#eq? @_d "staticmethod"))
(decorated_definition
  (decorator (identifier) @_d)
  definition: (function_definition) @kind.classmethod
  (#eq? @_d "classmethod"))
(decorated_definition
  (decorator [(identifier) (attribute)] @_d)
  definition: (function_definition) @kind.property
  (#match? @_d "^(property|functools\\.cached_property|cached_property|[A-Za-z_][A-Za-z0-9_]*\\.(setter|getter|deleter))$"))

; Decorator names, for functions left as they are (language.conf `leave_decorated`): the
; decorator itself (`@njit`, `@numba.njit`) or what it calls (`@numba.jit(nopython=True)`).
(decorated_definition
  (decorator [(identifier) (attribute)] @decorator)
  definition: (function_definition) @decorated)
(decorated_definition
  (decorator (call function: [(identifier) (attribute)] @decorator))
  definition: (function_definition) @decorated)

; ----- scopes that only name things -----

(class_definition
  name: (identifier) @class.name
  body: (block) @class.body) @class

; Expression-level functions: whatever is inside belongs to no instrumented function.
(lambda) @opaque

; ----- suspension points of generators and coroutines -----

(yield) @suspend.yield
(await) @suspend.await

; Implicit awaits: `async for` (each __anext__), `async with` (__aenter__, __aexit__) and async
; comprehensions. The captured expression is wrapped (see wrap.* in language.conf).
(for_statement "async" right: (_) @suspend.aiter)
(for_in_clause "async" right: (_) @suspend.aiter)
(with_statement "async" (with_clause (with_item value: (_) @suspend.acontext)))

; ----- loops (fine granularity); the suffix names the loop in the report -----

(for_statement) @loop.for
(while_statement) @loop.while

; ----- layout -----

; Lines that start inside these are never re-indented.
(string) @verbatim

; Module statements that must stay first (after the docstring).
(future_import_statement) @prologue

; A docstring: a body's first statement when it is a plain string literal. f-strings and bytes
; are not docstrings, so inserting code before them would change nothing, but code inserted
; before a real docstring would turn it into a plain expression.
((expression_statement (string (string_start) @_s)) @docstring
  (#not-match? @_s "[fFbB]"))
((expression_statement (parenthesized_expression (string (string_start) @_s))) @docstring
  (#not-match? @_s "[fFbB]"))
(expression_statement (concatenated_string) @_c) @docstring
((expression_statement (concatenated_string (string (string_start) @_s))) @docstring.not
  (#match? @_s "[fFbB]"))
