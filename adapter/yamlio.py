"""YAML from outside (mapping folders: mappings, concept files, units), parsed with the safe constructor and bounded.

PyYAML resolves an alias (`*name`) to the very object its anchor built, so `yaml.load` itself stays small on a
"billion laughs" file; the blow-up comes later, in whatever walks the data (the parsed-YAML cache's json.dumps,
pydantic): 1.4 GB in 15 s for a 1 KB concepts.yaml. The bundled concept library uses a few anchors (shared code
lists), so aliases are allowed, but what they expand to is measured from the event stream first — before any
cache or validator sees the data — and refused past a small multiple of the file's own size.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from adapter.errors import MappingError

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml (when built with it) parses ~10x faster
# An anchor (`&name`) where a node may start; without one there is no alias (an alias needs an anchor), so the
# event scan is skipped. A match inside a quoted scalar only costs that scan.
_ANCHOR = re.compile(r"(?:^|[\s\[{,])&[^\s\[\]{},]", re.MULTILINE)
EXPANSION_FACTOR = 2  # expanded weight (scalar characters + one per node) per character of the file …
EXPANSION_SLACK = 64 * 1024  # … plus this much: a few shared code lists fit, a billion laughs does not


def load_yaml(text: str, source: str) -> Any:
    """YAML text to data; a MappingError naming `source` (and the line) when it is not valid YAML or its aliases
    expand too far."""
    try:
        if _ANCHOR.search(text):
            check_alias_expansion(text, source)
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise MappingError(f"{source}:{where} not valid YAML: {problem}") from None


def check_alias_expansion(text: str, source: str) -> None:
    """MappingError when the YAML's aliases, expanded, would weigh more than the file allows (or point at a
    node that encloses them). One pass over the parser's events; nothing is built."""
    limit = EXPANSION_FACTOR * len(text) + EXPANSION_SLACK
    closed: dict[str, int] = {}  # anchor -> expanded weight of its (complete) node
    stack: list[list[Any]] = [[0, None]]  # [weight so far, anchor] per open collection; the bottom: the stream
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            stack.append([1, event.anchor])
            continue
        if isinstance(event, yaml.ScalarEvent):
            weight = 1 + len(event.value)
            if event.anchor:
                closed[event.anchor] = weight
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in closed:
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise MappingError(f"{source}: line {line}: alias *{event.anchor} names no complete node before it")
            weight = closed[event.anchor]
        elif isinstance(event, yaml.CollectionEndEvent):
            weight, anchor = stack.pop()
            if anchor:
                closed[anchor] = weight
        else:
            continue
        stack[-1][0] += weight
        if stack[-1][0] > limit:
            raise MappingError(f"{source}: YAML aliases expand to more than {limit} characters (anchors are "
                               f"for a few shared lists, not for multiplying data)")


__all__ = ["EXPANSION_FACTOR", "EXPANSION_SLACK", "check_alias_expansion", "load_yaml"]
