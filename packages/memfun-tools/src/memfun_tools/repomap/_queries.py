"""Tag queries that the grammar wheels do not ship, and reference patterns they lack.

Captures follow the tree-sitter tags convention: ``@name`` is the identifier, and a
``@definition.<kind>`` or ``@reference.<kind>`` capture in the same pattern says what it is.
"""

from __future__ import annotations

__all__ = ["EXTRA_QUERIES", "TYPESCRIPT_TAGS"]

# tree-sitter-typescript ships no TAGS_QUERY.
TYPESCRIPT_TAGS = """
(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(class_declaration name: (type_identifier) @name) @definition.class
(abstract_class_declaration name: (type_identifier) @name) @definition.class
(interface_declaration name: (type_identifier) @name) @definition.interface
(type_alias_declaration name: (type_identifier) @name) @definition.type
(enum_declaration name: (identifier) @name) @definition.type
(method_definition name: (property_identifier) @name) @definition.method
(method_signature name: (property_identifier) @name) @definition.method
(abstract_method_signature name: (property_identifier) @name) @definition.method
(internal_module name: (identifier) @name) @definition.module
(lexical_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function) (function_expression)])) @definition.function
(call_expression function: (identifier) @name) @reference.call
(call_expression
  function: (member_expression property: (property_identifier) @name)) @reference.call
(new_expression constructor: (identifier) @name) @reference.class
(type_annotation (type_identifier) @name) @reference.type
(generic_type name: (type_identifier) @name) @reference.type
(extends_clause value: (identifier) @name) @reference.class
(implements_clause (type_identifier) @name) @reference.implementation
"""

# Reference patterns added to the shipped queries (C and C++ ship definitions only).
EXTRA_QUERIES: dict[str, str] = {
    "python": """
(class_definition superclasses: (argument_list (identifier) @name) @reference.class)
(type (identifier) @name) @reference.type
(import_from_statement name: (dotted_name (identifier) @name)) @reference.import
""",
    "c": """
(call_expression function: (identifier) @name) @reference.call
(type_identifier) @name @reference.type
""",
    "cpp": """
(call_expression function: (identifier) @name) @reference.call
(call_expression function: (field_expression field: (field_identifier) @name)) @reference.call
(call_expression function: (qualified_identifier name: (identifier) @name)) @reference.call
(type_identifier) @name @reference.type
""",
}
