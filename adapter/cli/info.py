"""`trial-adapter trials` and `concepts`: what an installation knows, for the people who review and run it.

`trials`: each trial's id, status, whether its mapping is a draft, how many criteria data can settle and how many
a person must, and its title. `concepts`: the concept library's keys per kind with their code counts, or one
concept in full (display, codes with their systems and sources, partial codes, synonyms). Parsed and run like the
others in `adapter.cli`, whose helpers they share.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from adapter.cli.options import load_trial_catalog, trial_options
from adapter.errors import AdapterError

if TYPE_CHECKING:
    from adapter.catalog import Trial
    from adapter.mapping.concepts import Concept, ConceptLibrary, DerivedConcept

KINDS = ("observations", "conditions", "procedures", "medications", "allergies", "derived")


def trial_row(trial: Trial) -> dict[str, Any]:
    """One trial as `trials --format json` lists it. The counts are of the trial's criteria as the engine reads
    them (the record's own age, sex and condition limits included): `manual` ones need a person."""
    manual = sum(1 for c in trial.mapping.criteria if c.kind == "manual")
    total = len(trial.evidence_variable["characteristic"])
    return {"id": trial.nct_id, "title": trial.title, "status": trial.record.overall_status,
            "recruiting": trial.recruiting, "draft": trial.draft,
            "criteria": {"computable": total - manual, "manual": manual}}


def cmd_trials(args: argparse.Namespace) -> int:
    rows = [trial_row(trial) for trial in load_trial_catalog(args).select(args.trial)]
    if args.format == "json":
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return 0
    header = ("id", "status", "draft", "computable", "manual", "title")
    cells = [header, *((r["id"], r["status"] or "UNKNOWN", "draft" if r["draft"] else "-",
                        str(r["criteria"]["computable"]), str(r["criteria"]["manual"]), r["title"]) for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    for row in cells:
        sys.stdout.write("  ".join(c.rjust(w) if c.isdigit() else c.ljust(w) for c, w in zip(row, widths, strict=False))
                         + "  " + row[-1] + "\n")
    return 0


def _table(library: ConceptLibrary, kind: str) -> dict[str, Any]:
    table: dict[str, Any] = getattr(library, kind)
    return table


def _find(library: ConceptLibrary, name: str) -> list[tuple[str, str]]:
    """(kind, key) of every concept called `name` (`kind/key` narrows it to one kind)."""
    kind, _, key = name.rpartition("/")
    kinds = [kind] if kind in KINDS else KINDS
    key = key if kind in KINDS else name
    found = [(k, key) for k in kinds if key in _table(library, k)]
    if found:
        return found
    import difflib

    keys = sorted({k for kind_ in KINDS for k in _table(library, kind_)})
    close = difflib.get_close_matches(key, keys, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else " (`trial-adapter concepts` lists them)"
    raise AdapterError(f"no concept {name!r}{hint}")


def concept_lines(library: ConceptLibrary, kind: str, key: str) -> list[str]:
    """One concept for people: its display, codes (system|code, display, [source]), partial codes, names, and
    the sources its codes were checked in."""
    concept: Concept | DerivedConcept = _table(library, kind)[key]
    lines = [f"{kind}/{key}: {concept.display}"]
    if kind == "derived":  # a formula over observations
        derived: Any = concept
        lines.append(f"  formula {derived.formula} in {derived.unit}, from "
                     + ", ".join(f"{role} = observations/{item.observation} (within {item.lookback_days} days)"
                                 for role, item in sorted(derived.inputs.items())))
        return lines
    item: Any = concept

    def code_line(c: Any, extra: str = "") -> str:
        return f"    {c.system}|{c.code}  {c.display or ''}{extra}{f'  [{c.source}]' if c.source else ''}".rstrip()

    if item.codes:
        lines.append(f"  codes ({len(item.codes)}):")
        lines += [code_line(c) for c in item.codes]
    if item.partial_codes:
        lines.append("  partial codes (name it without a detail a criterion needs):")
        lines += [code_line(c, f" (lacks {c.missing})") for c in item.partial_codes]
    for label, values in (("text", item.text), ("synonyms", item.synonyms)):
        if values:
            lines.append(f"  {label}: {'; '.join(values)}")
    if item.answers:
        lines.append("  answers: " + "; ".join(f"{a.system}|{a.code} = {a.value}" for a in item.answers))
    if item.note:
        lines.append(f"  note: {item.note}")
    cited = dict.fromkeys([*item.sources, *(c.source for c in item.all_codes() if c.source)])
    if cited:
        lines.append("  sources:")
        for source_id in cited:
            source = library.sources.get(source_id)
            where = f" <{source.url}>" if source is not None and source.url else ""
            lines.append(f"    [{source_id}] {source.title if source is not None else ''}{where}".rstrip())
    return lines


def cmd_concepts(args: argparse.Namespace) -> int:
    library = load_trial_catalog(args).concepts
    if args.name:
        found = _find(library, args.name)
        if args.format == "json":
            data = [{"kind": k, "key": n, **_table(library, k)[n].model_dump(mode="json", exclude_defaults=True)}
                    for k, n in found]
            sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            return 0
        sys.stdout.write("\n".join("\n".join(concept_lines(library, k, n)) for k, n in found) + "\n")
        return 0
    listing = {kind: {key: len(getattr(c, "codes", ())) for key, c in sorted(_table(library, kind).items())}
               for kind in KINDS}
    if args.format == "json":
        sys.stdout.write(json.dumps(listing, indent=2) + "\n")
        return 0
    for kind, keys in listing.items():
        sys.stdout.write(f"{kind} ({len(keys)})\n")
        width = max((len(k) for k in keys), default=0)
        digits = max((len(str(n)) for n in keys.values()), default=1)
        for key, count in keys.items():
            display = _table(library, kind)[key].display
            codes = "derived" if kind == "derived" else f"{count:>{digits}} code{' ' if count == 1 else 's'}"
            sys.stdout.write(f"  {key.ljust(width)}  {codes}  {display}\n")
    return 0


def add_info_commands(commands: Any) -> None:
    trials = commands.add_parser("trials", help="list the trials: status, draft, computable and manual criteria")
    trial_options(trials)
    trials.add_argument("--format", choices=["text", "json"], default="text")
    trials.set_defaults(run=cmd_trials)

    concepts = commands.add_parser("concepts", help="list the concept library, or show one concept's codes")
    concepts.add_argument("name", metavar="NAME", nargs="?",
                          help="a concept key (or KIND/KEY, e.g. medications/anti-vegf): its display, codes with "
                               "their systems and sources, synonyms")
    concepts.add_argument("--format", choices=["text", "json"], default="text")
    trial_options(concepts, select=False)
    concepts.set_defaults(run=cmd_concepts)
