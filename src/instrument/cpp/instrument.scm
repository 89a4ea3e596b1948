; instrument.scm - what codegreen instruments in C++, as tree-sitter queries.
;
; The engine reads only the capture names; see src/instrument/README.md for the full list.
; Captures whose name starts with "_" are helpers for predicates and are ignored.

; ----- function definitions (free functions, methods in and out of their class, constructors,
; destructors, operators, templates); the name may sit under pointer or reference declarators --

(function_definition
  declarator: (function_declarator declarator: (_) @function.name)
  body: (compound_statement) @function.body) @function
(function_definition
  declarator: (_ declarator: (function_declarator declarator: (_) @function.name))
  body: (compound_statement) @function.body) @function
(function_definition
  declarator: (_ declarator: (_ declarator: (function_declarator declarator: (_) @function.name)))
  body: (compound_statement) @function.body) @function
(function_definition
  declarator: (reference_declarator (function_declarator declarator: (_) @function.name))
  body: (compound_statement) @function.body) @function
(function_definition
  declarator: (pointer_declarator
    declarator: (reference_declarator (function_declarator declarator: (_) @function.name)))
  body: (compound_statement) @function.body) @function
; conversion operators: operator bool() const { ... }
(function_definition
  declarator: (operator_cast) @function.name
  body: (compound_statement) @function.body) @function

; ----- left as they are -----
(function_definition (type_qualifier) @_q (#eq? @_q "constexpr")) @skip.constexpr
(function_definition (type_qualifier) @_q (#eq? @_q "consteval")) @skip.consteval
(function_definition (storage_class_specifier) @_q (#eq? @_q "constexpr")) @skip.constexpr
(co_await_expression) @skip.coroutine
(co_yield_statement) @skip.coroutine
(co_return_statement) @skip.coroutine

; ----- scopes that only name things (Outer::Inner::method, ns::f) -----
(class_specifier name: (_) @class.name body: (field_declaration_list) @class.body) @class
(struct_specifier name: (_) @class.name body: (field_declaration_list) @class.body) @class
(union_specifier name: (_) @class.name body: (field_declaration_list) @class.body) @class
(namespace_definition name: (_) @class.name body: (declaration_list) @class.body) @class

; Lambdas stay intact; their time counts in the function that calls them.
(lambda_expression) @opaque
