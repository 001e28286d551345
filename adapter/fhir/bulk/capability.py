"""What a server declares for an export kick-off, from its CapabilityStatement and OperationDefinitions.

The Bulk Data IG leaves most kick-off parameters optional (`_typeFilter`, `_elements`, `patient`, STU3's
`organizeOutputBy` and `allowPartialManifests`), and a server may ignore a parameter it does not know — which
would silently widen the export — or refuse it. So an optional parameter is sent only when one of the `export`
operations the CapabilityStatement lists (system level or on the Patient/Group resource) has an
OperationDefinition that this server serves (its URL under the base), that applies to the kick-off's resource
type, and that lists the parameter. HAPI FHIR 8.8 serves `OperationDefinition/GroupPatient-its-export` on Patient
(with `_typeFilter` and `patient`; not `_elements`, `organizeOutputBy`, `allowPartialManifests`).

A served definition also means the server runs `$export` as a FHIR operation, which FHIR invokes by POST with a
`Parameters` body (GET is the exception, for operations that change nothing): `served` decides a POST kick-off.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from adapter.errors import FetchError
from adapter.fhir.client import FhirClient
from adapter.http import is_under

MAX_DEFINITIONS = 4  # definitions read at most; a server lists one or two export operations


@dataclass(frozen=True, slots=True)
class ExportSupport:
    """`served`: the server serves an export OperationDefinition for the kick-off; `parameters` its `in` names."""

    served: bool = False
    parameters: frozenset[str] = frozenset()

    def declares(self, name: str) -> bool:
        return name in self.parameters


def export_support(client: FhirClient, kick_off_type: str) -> ExportSupport:
    """What the server declares for `Patient/$export` or `Group/[id]/$export` (see module doc); nothing when its
    CapabilityStatement cannot be read (every optional parameter is then left out)."""
    try:
        capabilities = client.capabilities()
    except FetchError:  # an unreadable statement declares nothing; the kick-off says what the server does
        return ExportSupport()
    urls = list(dict.fromkeys(_export_definitions(capabilities, kick_off_type)))
    served, names = False, set()
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
        if _applies(definition, kick_off_type):
            served = True
            names |= _parameters(definition)
    return ExportSupport(served, frozenset(names))


def supports_type_filter(client: FhirClient, kick_off_type: str) -> bool:
    """True if the server declares `_typeFilter` for `Patient/$export` or `Group/[id]/$export` (see module doc)."""
    return export_support(client, kick_off_type).declares("_typeFilter")


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


def _applies(definition: dict[str, Any], kick_off_type: str) -> bool:
    resources = definition.get("resource") or ()
    return definition.get("code") == "export" and (not resources or kick_off_type in resources)


def _parameters(definition: dict[str, Any]) -> set[str]:
    return {
        parameter["name"]
        for parameter in definition.get("parameter") or ()
        if isinstance(parameter, dict) and isinstance(parameter.get("name"), str) and parameter.get("use", "in") == "in"
    }
