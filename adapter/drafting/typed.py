"""The drafter's definitions as the mapping's typed models: built as `Definition` objects (so a reading the schema
refuses cannot be drafted), written to YAML data only at the end, in the key order a person reads.

A node that cannot be built (a range without a unit, a bound the schema refuses) becomes `manual` with the reason
and the criterion's text: the draft stays a valid mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from adapter.mapping.definitions import AllOf, AnyOf, Definition, Manual, parse_definition


def manual(reason: str) -> Manual:
    return Manual(manual=reason)


def is_manual(node: Definition) -> bool:
    return isinstance(node, Manual) and not node.evidence and not node.context


def refused(exc: ValidationError, text: str) -> Manual:
    """Why the schema refuses a drafted reading, for the person who writes it by hand."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return manual(f"drafted a reading the mapping schema refuses ({where}: "
                  f"{first['msg'].removeprefix('Value error, ')}); a person writes it: {text}")


def build(factory: Callable[..., Definition], text: str, **fields: Any) -> Definition:
    """One node of the given model, or `manual` with the schema's reason when the model refuses the fields."""
    try:
        return factory(**fields)
    except ValidationError as exc:
        return refused(exc, text)


def from_data(data: dict[str, Any], text: str) -> Definition:
    """A definition drafted as data elsewhere (record entries), read into the typed model, or `manual`."""
    try:
        return parse_definition(data)
    except ValidationError as exc:
        return refused(exc, text)


def all_of(nodes: list[Definition]) -> AllOf:
    return AllOf(all_of=nodes)


def any_of(nodes: list[Definition]) -> AnyOf:
    return AnyOf(any_of=nodes)


def combine(kind: str, nodes: list[Definition]) -> Definition:
    """Nodes joined as `kind` (all_of / any_of): one node stays itself; only manual ones make one manual."""
    if len(nodes) == 1:
        return nodes[0]
    if all(is_manual(n) for n in nodes):
        return manual("; ".join(dict.fromkeys(n.manual for n in nodes if isinstance(n, Manual))))
    return all_of(nodes) if kind == "all_of" else any_of(nodes)


def to_data(node: Definition) -> dict[str, Any]:
    """The node as YAML data: its kind key first, then the fields that were given, in the model's order."""
    dumped = node.model_dump(exclude_unset=True)
    kind = node.kind
    data: dict[str, Any] = {kind: _data(getattr(node, kind), dumped[kind])}
    for key, value in dumped.items():
        if key != kind:
            data[key] = _data(getattr(node, key), value)
    return data


def _data(attribute: Any, dumped: Any) -> Any:
    """A field's data: nodes below (a combination's items, a manual node's evidence) keep the same key order."""
    if isinstance(attribute, list):
        return [to_data(item) for item in attribute]
    return dumped


__all__ = ["all_of", "any_of", "build", "combine", "from_data", "is_manual", "manual", "refused", "to_data"]
