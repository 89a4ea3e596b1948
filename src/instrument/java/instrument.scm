; instrument.scm - what codegreen instruments in Java, as tree-sitter queries.
;
; The engine reads only the capture names; see src/instrument/README.md for the full list.

; ----- bodies: methods, constructors (after this(...)/super(...)), record compact
; constructors, static and instance initialisers, lambdas with block bodies -----

(method_declaration name: (identifier) @function.name body: (block) @function.body) @function
(constructor_declaration name: (identifier) @function.name body: (constructor_body) @function.body) @function
(compact_constructor_declaration name: (identifier) @function.name body: (block) @function.body) @function
(static_initializer (block) @function.body) @function
(class_body (block) @function @function.body)
(enum_body_declarations (block) @function @function.body)
(lambda_expression body: (block) @function.body) @function

(constructor_declaration) @kind.constructor
(compact_constructor_declaration) @kind.constructor
(static_initializer) @kind.initializer
(class_body (block) @kind.initializer)
(enum_body_declarations (block) @kind.initializer)
(lambda_expression) @kind.lambda

; ----- classes: named ones, and anonymous ones (new T() { ... }, enum constants with bodies) -----

(class_declaration name: (identifier) @class.name body: (class_body) @class.body) @class
(record_declaration name: (identifier) @class.name body: (class_body) @class.body) @class
(enum_declaration name: (identifier) @class.name body: (enum_body) @class.body) @class
(interface_declaration name: (identifier) @class.name body: (interface_body) @class.body) @class
(annotation_type_declaration name: (identifier) @class.name body: (annotation_type_body) @class.body) @class
(object_creation_expression (class_body) @class.body) @class
(enum_constant body: (class_body) @class.body) @class
