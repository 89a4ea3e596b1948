; instrument.scm - what codegreen instruments in C, as tree-sitter queries.
;
; The engine reads only the capture names; see src/instrument/README.md for the full list.
; Captures whose name starts with "_" are helpers for predicates and are ignored.

; ----- function definitions: the name sits under pointer declarators (char *f(void)) -----

(function_definition
  declarator: (function_declarator declarator: (identifier) @function.name)
  body: (compound_statement) @function.body) @function
(function_definition
  declarator: (pointer_declarator
    declarator: (function_declarator declarator: (identifier) @function.name))
  body: (compound_statement) @function.body) @function
(function_definition
  declarator: (pointer_declarator
    declarator: (pointer_declarator
      declarator: (function_declarator declarator: (identifier) @function.name)))
  body: (compound_statement) @function.body) @function
(function_definition
  declarator: (pointer_declarator
    declarator: (pointer_declarator
      declarator: (pointer_declarator
        declarator: (function_declarator declarator: (identifier) @function.name))))
  body: (compound_statement) @function.body) @function
; a function returning a pointer to a function: int (*pick(int k))(int)
(function_definition
  declarator: (function_declarator
    declarator: (parenthesized_declarator
      (pointer_declarator
        declarator: (function_declarator declarator: (identifier) @function.name))))
  body: (compound_statement) @function.body) @function
