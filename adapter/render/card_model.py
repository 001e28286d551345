"""A CDS Hooks 2.0 card, as the renderer builds it and the service returns it (the service's models reuse these)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Source(BaseModel):
    label: str
    url: str | None = None


class Link(BaseModel):
    label: str
    url: str
    type: Literal["absolute", "smart"] = "absolute"


class Card(BaseModel):
    uuid: str
    summary: str = Field(max_length=139)  # CDS Hooks: under 140 characters
    indicator: Literal["info", "warning", "critical"]
    source: Source
    detail: str | None = None
    links: list[Link] = []
