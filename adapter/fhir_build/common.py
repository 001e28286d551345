"""Identifiers, canonical URLs and small FHIR datatype helpers shared by the R5 and R4 builders."""

from __future__ import annotations

import html
import uuid
from decimal import Decimal
from typing import Any

from adapter.mapping.concepts import Concept

# The code systems themselves are written once, in adapter.vocabulary; DERIVED_CODE_SYSTEM is re-exported
# here for the modules outside the builder that still import it from common.
from adapter.vocabulary import CANONICAL_BASE, DERIVED_CODE_SYSTEM, RESOURCE_IDENTIFIER_SYSTEM, UCUM

_UUID_NAMESPACE = uuid.UUID("0f6f4a53-8f0e-5c1e-9a55-7ad1f3c2b9e1")

UNIT_DISPLAY = {"a": "years", "d": "days", "10*9/L": "×10⁹/L", "{score}": "score", "mm[Hg]": "mmHg"}
ULN_MULTIPLE_UNIT = "{ULN}"  # UCUM annotation: a multiple of the result's upper reference limit


def stable_uuid(*parts: str) -> str:
    """The same inputs give the same urn:uuid on every run, so Bundles are reproducible."""
    return f"urn:uuid:{uuid.uuid5(_UUID_NAMESPACE, '/'.join(parts))}"


def resource_key(nct_id: str, suffix: str) -> str:
    return f"{nct_id}-{suffix}"


def business_identifier(key: str) -> dict[str, str]:
    return {"system": RESOURCE_IDENTIFIER_SYSTEM, "value": key}


def canonical_url(resource_type: str, key: str) -> str:
    return f"{CANONICAL_BASE}/{resource_type}/{key}"


def number(value: Decimal | int) -> int | float:
    """JSON number for a Decimal: integral values stay integers (90, not 90.0)."""
    decimal = Decimal(value)
    return int(decimal) if decimal == decimal.to_integral_value() else float(decimal)


def quantity(value: Decimal | int, unit: str, comparator: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if comparator:
        result["comparator"] = comparator
    result.update(value=number(value), unit=UNIT_DISPLAY.get(unit, unit), system=UCUM, code=unit)
    return result


def value_range(low: Decimal | int | None, high: Decimal | int | None, unit: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if low is not None:
        result["low"] = quantity(low, unit)
    if high is not None:
        result["high"] = quantity(high, unit)
    return result


def codeable_concept(concept: Concept) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if concept.codes:
        result["coding"] = [
            {"system": c.system, "code": c.code, **({"display": c.display} if c.display else {})} for c in concept.codes
        ]
    result["text"] = concept.display
    return result


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def narrative(*lines: str) -> dict[str, str]:
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines if line)
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'}


def slug(text: str) -> str:
    cleaned = "".join(ch.lower() if ch.isalnum() else "-" for ch in text)
    return "-".join(part for part in cleaned.split("-") if part)[:64]


def days(value: int) -> dict[str, Any]:
    """A duration in days (UCUM `d`), as used by timing bounds and timeFromEvent ranges."""
    return {"value": value, "unit": "days", "system": UCUM, "code": "d"}


__all__ = [
    "DERIVED_CODE_SYSTEM",
    "ULN_MULTIPLE_UNIT",
    "UNIT_DISPLAY",
    "business_identifier",
    "canonical_url",
    "codeable_concept",
    "coding",
    "days",
    "narrative",
    "number",
    "quantity",
    "resource_key",
    "slug",
    "stable_uuid",
    "value_range",
]
