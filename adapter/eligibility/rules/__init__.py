"""The rules: plain functions `(ctx, definition, windows) -> Outcome`, one per kind of
`definitionByTypeAndValue.type`, chosen from a table keyed by the vocabulary's type tokens.

A type the table does not know is a derived measure when the options name it, else an observation code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapter.eligibility.rules.context import Rule, RuleContext, type_tokens
from adapter.eligibility.rules.demographics import age, gender
from adapter.eligibility.rules.derived import derived
from adapter.eligibility.rules.observations import observation
from adapter.eligibility.rules.record_entries import record_entry
from adapter.vocabulary import AGE, GENDER, RECORD_KIND_BY_TYPE_TOKEN

__all__ = ["RULES", "Rule", "RuleContext", "rule_for"]

# In priority order: a type carrying several of these codings is read as the first one here.
RULES: Mapping[str, Rule] = {
    AGE.token: age,
    GENDER.token: gender,
    **{type_token: record_entry for type_token in RECORD_KIND_BY_TYPE_TOKEN},
}


def rule_for(definition: Mapping[str, Any], ctx: RuleContext) -> Rule:
    """The rule that interprets a `definitionByTypeAndValue`."""
    types = type_tokens(definition)
    rule = next((RULES[t] for t in RULES if t in types), None)
    if rule is not None:
        return rule
    if any(t in ctx.options.derived for t in types):
        return derived
    return observation
