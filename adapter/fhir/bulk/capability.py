"""Whether a server supports `_typeFilter` for a kick-off, from what its CapabilityStatement declares.

The Bulk Data IG leaves `_typeFilter` optional, and a server may ignore a parameter it does not know — which
would silently widen the export. So it is sent only when one of the `export` operations the CapabilityStatement
lists (system level or on the Patient/Group resource) has an OperationDefinition that this server serves (its
URL under the base), that applies to the kick-off's resource type, and that lists a `_typeFilter` parameter.
HAPI FHIR declares that (`OperationDefinition/GroupPatient-its-export`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from adapter.errors import FetchError
from adapter.fhir.client import FhirClient
from adapter.http import is_under

MAX_DEFINITIONS = 4  # definitions read at most; a server lists one or two export operations


def supports_type_filter(client: FhirClient, kick_off_type: str) -> bool:
    """True if the server declares `_typeFilter` for `Patient/$export` or `Group/[id]/$export` (see module doc)."""
    urls = list(dict.fromkeys(_export_definitions(client.capabilities(), kick_off_type)))
    for url in urls[:MAX_DEFINITIONS]:
        if not is_under(client.base_url, url):
            continue
        relative = url[len(client.base_url) :].lstrip("/")
        kind, _, ident = relative.partition("/")
        if kind != "OperationDefinition" or not ident:
            continue
        try:
            definition = client.read("OperationDefinition", ident)
        except FetchError:
            continue  # an unreadable definition declares nothing
        if _declares_type_filter(definition, kick_off_type):
            return True
    return False


def _export_definitions(capabilities: dict[str, Any], kick_off_type: str) -> Iterator[str]:
    for rest in capabilities.get("rest") or ():
        if not isinstance(rest, dict) or rest.get("mode", "server") != "server":
            continue
        operations = list(rest.get("operation") or ())
        for resource in rest.get("resource") or ():
            if isinstance(resource, dict) and resource.get("type") == kick_off_type:
                operations.extend(resource.get("operation") or ())
        for operation in operations:
            if isinstance(operation, dict) and operation.get("name") in ("export", "$export"):
                definition = operation.get("definition")
                if isinstance(definition, str):
                    yield definition.split("|", 1)[0].strip()


def _declares_type_filter(definition: dict[str, Any], kick_off_type: str) -> bool:
    if definition.get("code") != "export":
        return False
    resources = definition.get("resource") or ()
    if resources and kick_off_type not in resources:
        return False
    return any(
        isinstance(parameter, dict) and parameter.get("name") == "_typeFilter" and parameter.get("use", "in") == "in"
        for parameter in definition.get("parameter") or ()
    )
