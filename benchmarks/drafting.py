"""How well `trial-adapter draft` reads numeric thresholds: precision and recall against hand annotations.

Run: .venv/bin/python benchmarks/drafting.py [--quiet] [--sets NAME,NAME]  (--sets: those threshold sets only)

Sets (benchmarks/drafting/*.yaml): `seed` (the two bundled records), `realworld` (API v2 records read in place from
../shared/realworld/ctgov), `unseen` (eligibility texts quoted from public sources the project never saw),
`thresholds-dev` and `thresholds-heldout` (21 real records the project never saw, ctti-clinicaltrials/aact test
fixtures, whole eligibility texts quoted; the held-out ones were annotated before any change was measured),
`thresholds-heldout-2` (11 more real records from aact's JSON fixtures, annotated before the drafter ever ran on
them, measured once after the work on the other sets), `thresholds-heldout-3` (13 more, annotated before the drafter
ran on them, measured once after round 3). Every
annotated threshold describes the ALLOWED region (an exclusion "PT > 16 s" is an upper bound 16 s, not strict).

A drafted threshold is right when concept, bound, value (after unit conversion), unit and strictness all agree.
Precision counts every drafted reading, those drafted `manual` with the value shown too; "computable drafted bounds,
right" is the precision of the bounds a screen would act on.
"Wrong without needs_review" counts drafted thresholds that are computable, match no annotation, and carry no
needs_review: the number that must stay at zero. The seed drafts are also compared with the hand-written mappings.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapter.catalog import load_catalog  # noqa: E402
from adapter.ctgov.model import TrialRecord  # noqa: E402
from adapter.ctgov.parse import load_record, parse_record  # noqa: E402
from adapter.drafting.draft import Draft, Drafter  # noqa: E402
from adapter.drafting.recognize import Threshold  # noqa: E402
from adapter.mapping.loader import normalize_text  # noqa: E402
from adapter.mapping.model import (  # noqa: E402
    AgeDefinition,
    Definition,
    DerivedDefinition,
    ObservationDefinition,
    RecordEntry,
    SexDefinition,
    TrialMapping,
)
from adapter.units import convert  # noqa: E402

SETS = ("seed", "realworld", "unseen", "thresholds-dev", "thresholds-heldout", "thresholds-heldout-2",
        "thresholds-heldout-3")
ALIASES = {"creatinine-clearance-measured": "creatinine-clearance"}  # the library's name → the annotations' name
FLIP = {">": ("upper", False), ">=": ("upper", True), "<": ("lower", False), "<=": ("lower", True)}
KEEP = {">": ("lower", True), ">=": ("lower", False), "<": ("upper", True), "<=": ("upper", False)}


@dataclass(frozen=True)
class Bound:
    concept: str
    bound: str
    value: Decimal
    unit: str
    strict: bool
    computable: bool = True
    review: bool = False
    text: str = ""

    def show(self) -> str:
        sign = ("<" if self.strict else "≤") if self.bound == "upper" else (">" if self.strict else "≥")
        return f"{self.concept} {sign} {self.value} {self.unit}".rstrip()


def bounds(t: Threshold, exclusion: bool, computable: bool, review: bool, text: str) -> list[Bound]:
    """A drafted threshold as bounds of the allowed region."""
    q = t.quantity
    unit = q.unit or ""
    if unit == "1" and t.what == "inr":  # the ratio the drafter writes as UCUM 1
        unit = ""
    common = {"concept": ALIASES.get(t.what, t.what), "unit": unit, "computable": computable, "review": review,
              "text": text}
    if q.comparator is None:
        found = []
        if q.low is not None and not (t.what == "ecog" and q.low == 0):
            found.append(Bound(bound="lower", value=q.low, strict=False, **common))  # type: ignore[arg-type]
        if q.high is not None:
            found.append(Bound(bound="upper", value=q.high, strict=False, **common))  # type: ignore[arg-type]
        return found
    assert q.value is not None
    side, strict = (FLIP if exclusion else KEEP)[q.comparator]
    return [Bound(bound=side, value=q.value, strict=strict, **common)]  # type: ignore[arg-type]


def same_value(drafted: Bound, annotated: dict[str, Any]) -> bool:
    value, unit = Decimal(str(annotated["value"])), str(annotated.get("unit") or "")
    if drafted.unit == unit:
        return drafted.value == value
    if "ULN" in (drafted.unit, unit) or "" in (drafted.unit, unit):
        return False
    try:
        return convert(drafted.value, drafted.unit, unit) == value
    except Exception:  # units that do not convert are simply different
        return False


def matches(drafted: Bound, annotated: dict[str, Any]) -> bool:
    return (drafted.concept == annotated["concept"] and drafted.bound == annotated["bound"]
            and drafted.strict == bool(annotated.get("strict", False)) and same_value(drafted, annotated))


def record_for(entry: dict[str, Any]) -> tuple[TrialRecord, dict[str, Any] | None]:
    if "record" in entry:
        path = Path(entry["record"])
        path = path if path.is_absolute() else ROOT / path
        return load_record(path), None
    synthetic = {"protocolSection": {"identificationModule": {"nctId": "NCT99999999"},
                                     "eligibilityModule": {"eligibilityCriteria": entry["eligibility"]}}}
    return parse_record(synthetic, entry["id"]), synthetic


def drafted_bounds(draft: Draft) -> list[Bound]:
    found: list[Bound] = []
    for criterion in draft.criteria:
        exclusion = criterion.item.type == "exclusion"
        review = criterion.recognition.needs_review is not None
        for t in criterion.recognition.thresholds:
            computable = t.problem is None and (t.concept is not None or (
                t.kind == "age" and "manual" not in json.dumps(criterion.recognition.definition, default=str)))
            found += bounds(t, exclusion, computable, review or bool(t.review), criterion.item.text)
    return found


@dataclass
class Score:
    drafted: Counter[str]
    right: Counter[str]
    annotated: Counter[str]
    found: Counter[str]
    wrong_silent: list[str]
    wrong_reviewed: list[str]
    computable: int = 0
    computable_right: int = 0  # computable drafted bounds that match an annotation


def score(entries: list[dict[str, Any]], drafter_for: Any) -> Score:
    result = Score(Counter(), Counter(), Counter(), Counter(), [], [])
    for entry in entries:
        record, _ = record_for(entry)
        draft = drafter_for(record).draft()
        drafted = drafted_bounds(draft)
        annotations = entry.get("thresholds") or []
        for b in drafted:
            result.drafted[b.concept] += 1
            result.computable += b.computable
            if any(matches(b, a) for a in annotations):
                result.right[b.concept] += 1
                result.computable_right += b.computable
            elif b.computable and not b.review:
                result.wrong_silent.append(f"{entry['id']}: {b.show()}  «{b.text[:80]}»")
            elif b.computable:
                result.wrong_reviewed.append(f"{entry['id']}: {b.show()}  «{b.text[:80]}»")
        for a in annotations:
            result.annotated[a["concept"]] += 1
            if any(matches(b, a) for b in drafted):
                result.found[a["concept"]] += 1
    return result


def ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "–"


def report(name: str, s: Score, *, quiet: bool) -> None:
    drafted, right = sum(s.drafted.values()), sum(s.right.values())
    annotated, found = sum(s.annotated.values()), sum(s.found.values())
    print(f"\n== {name}: precision {ratio(right, drafted)} ({right}/{drafted}), recall {ratio(found, annotated)} "
          f"({found}/{annotated}); computable drafted bounds {s.computable}, right "
          f"{ratio(s.computable_right, s.computable)} ({s.computable_right}/{s.computable}); "
          f"wrong without needs_review: {len(s.wrong_silent)}; wrong with needs_review: {len(s.wrong_reviewed)}")
    if not quiet:
        print(f"   {'concept':<22} {'precision':>14} {'recall':>14}")
        for concept in sorted(set(s.drafted) | set(s.annotated)):
            p = f"{ratio(s.right[concept], s.drafted[concept])} ({s.right[concept]}/{s.drafted[concept]})"
            r = f"{ratio(s.found[concept], s.annotated[concept])} ({s.found[concept]}/{s.annotated[concept]})"
            print(f"   {concept:<22} {p:>14} {r:>14}")
    for line in s.wrong_silent:
        print(f"   WRONG (no needs_review): {line}")
    for line in s.wrong_reviewed if not quiet else []:
        print(f"   wrong, flagged needs_review: {line}")


def leaves(node: Definition) -> set[str]:
    found = set()
    for n in node.walk():
        if isinstance(n, ObservationDefinition | DerivedDefinition):
            amount = (f"{n.range.low}-{n.range.high} {n.range.unit}" if n.range else
                      f"{n.comparator} {n.times_uln} ULN" if n.times_uln is not None else
                      f"{n.comparator} {n.value} {n.unit}")
            found.add(f"{getattr(n, n.kind)} {amount}")
        elif isinstance(n, AgeDefinition):
            found.add(f"age {n.age.low}-{n.age.high}")
        elif isinstance(n, SexDefinition):
            found.add(f"sex {n.sex}")
        elif isinstance(n, RecordEntry):
            found.add(f"{'no ' if n.absent else ''}{n.kind} {n.concept}")
    return {_tidy(x) for x in found}


def _tidy(text: str) -> str:
    return " ".join(part.rstrip("0").rstrip(".") if part.replace(".", "").isdigit() and "." in part else part
                    for part in text.split())


def _key(text: str) -> str:
    return normalize_text(text).rstrip(" ;.")


def compare_seed(nct: str, drafter_for: Any, catalog: Any) -> None:
    trial = catalog.get(nct)
    draft = drafter_for(trial.record).draft()
    mapping = TrialMapping.model_validate(yaml.safe_load(draft.yaml_text()))
    ours = {_key(c.text): c for c in mapping.criteria}
    got = missed = wrong = 0
    print(f"\n== {nct}: draft vs the hand-written mapping ({len(trial.mapping.criteria)} criteria by hand, "
          f"{len(mapping.criteria)} drafted)")
    for hand in trial.mapping.criteria:
        drafted = ours.get(_key(hand.text))
        if drafted is None:
            print(f"   {hand.id}: NOT SPLIT the same way «{hand.text[:70]}»")
            missed += len(leaves(hand)) or 1
            continue
        a, b = leaves(hand), leaves(drafted)
        got, missed, wrong = got + len(a & b), missed + len(a - b), wrong + len(b - a)
        status = "manual in both" if not a and not b else ("same" if a == b else "differs")
        line = f"   {hand.id} → {drafted.id}: {status}"
        if a - b:
            line += f"; missed {sorted(a - b)}"
        if b - a:
            line += f"; draft adds {sorted(b - a)}"
        if drafted.needs_review:
            line += f"; needs_review: {drafted.needs_review}"
        print(line)
    print(f"   computable items: {got} got, {missed} missed, {wrong} drafted that the hand mapping does not have")


def main(argv: list[str]) -> int:
    quiet = "--quiet" in argv
    chosen = argv[argv.index("--sets") + 1].split(",") if "--sets" in argv else None
    catalog = load_catalog()

    def drafter_for(record: TrialRecord) -> Drafter:
        return Drafter(record, catalog.concepts)

    folder = Path(__file__).with_suffix("")
    for name in chosen or SETS:
        data = yaml.safe_load((folder / f"{name}.yaml").read_text(encoding="utf-8"))
        entries = [e for e in data["records"] if "record" not in e or Path(e["record"]).is_absolute() is False
                   or Path(e["record"]).exists()]
        skipped = len(data["records"]) - len(entries)
        report(f"{name} ({len(entries)} records{f', {skipped} not found' if skipped else ''})",
               score(entries, drafter_for), quiet=quiet)
    if chosen:
        return 0
    for nct in ("NCT03787251", "NCT03320629"):
        compare_seed(nct, drafter_for, catalog)
    # Record-entry criteria (conditions, drugs, procedures, allergies, pregnancy): benchmarks/drafting_entries.py.
    from benchmarks.drafting_entries import SETS as ENTRY_SETS
    from benchmarks.drafting_entries import report as entries_report

    for name in ENTRY_SETS:
        entries_report(name, catalog.concepts, quiet=quiet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
