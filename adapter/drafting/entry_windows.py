"""Time windows of record-entry criteria: "within 4 weeks", "in the past 6 months", "two years prior to", and the
washouts that say the opposite ("≥ 4 weeks since the last …"), each as whole days."""

from __future__ import annotations

import math
import re

NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                "ten": 10, "eleven": 11, "twelve": 12, "fourteen": 14, "twenty-one": 21, "twenty-eight": 28}
# Mean Gregorian month and year; a window is rounded up to whole days (6 months = 183 days, 5 years = 1,827).
UNIT_DAYS = {"day": 1.0, "week": 7.0, "month": 30.4375, "year": 365.25, "wk": 7.0, "mo": 30.4375, "yr": 365.25}
_NUM = r"(\d+|" + "|".join(NUMBER_WORDS) + r")"
WASHOUT = re.compile(r"(?:≥|>=|>|at least|more than|greater than|a minimum of|minimum of)\s*" + _NUM +
                     r"\s*(?:\(\d+\)\s*)?(day|week|month|year|wk|mo|yr)s?\s+(?:since|from|after|between|prior|before|"
                     r"must have elapsed|have elapsed|washout)", re.I)
WINDOW = re.compile(
    r"(?:within|w/in|in|during|less than|fewer than|<|≤)\s*(?:the\s+)?(?:(?:last|past|previous|preceding|prior)\s+)?"
    + _NUM + r"\s*(?:\(\d+\)\s*)?(day|week|month|year|wk|mo|yr)s?\b"
    r"|" + _NUM + r"\s*(?:\(\d+\)\s*)?(day|week|month|year|wk|mo|yr)s?\s+(?:prior to|before|of|preceding)\b",
    re.I)


DURATION = re.compile(r"\b(?:duration|lasting|lasted|last(?:s|ed)? for)\b(?:\s+\w+){0,3}\s*$", re.I)


def days(number: str, unit: str) -> int:
    count = int(number) if number.isdigit() else NUMBER_WORDS[number.lower()]
    return math.ceil(count * UNIT_DAYS[unit.lower()])


def window_days(text: str) -> list[tuple[int, int, int]]:
    """Each time window in the text as (start, end, days), rounded up to whole days."""
    found = []
    for m in WINDOW.finditer(text):
        if DURATION.search(text, max(0, m.start() - 40), m.start()):
            continue  # "an episode lasting less than 5 years" says how long, not how recently
        number, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        count = days(number, unit)
        if count > 0:
            found.append((m.start(), m.end(), count))
    return found


__all__ = ["NUMBER_WORDS", "UNIT_DAYS", "WASHOUT", "WINDOW", "days", "window_days"]
