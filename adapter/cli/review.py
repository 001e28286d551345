"""`trial-adapter check DIR`: what in a site folder still needs a person before its trials can be trusted.

One line per item — `NCT…  criterion-id  why` — for every trial still `draft: true`, every criterion still flagged
`needs_review`, and every mapping that does not load. Exit 0 when nothing needs review, 1 while anything does (so a
script or CI can wait on it), 2 when the folder cannot be checked at all (one line on stderr). `--explain` adds each
flagged trial's criteria with the readings and the text behind them (adapter.drafting.review).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapter.cli.options import ENV_MAPPINGS
from adapter.errors import AdapterError, MappingError

if TYPE_CHECKING:
    from adapter.catalog import TrialCatalog
    from adapter.mapping.model import TrialMapping

EXIT_CLEAN, EXIT_TO_REVIEW = 0, 1
NO_CRITERION = "-"  # the item is the whole trial


def _site_trials(folder: Path) -> list[str]:
    """The trials whose mapping is in `folder` (NCT….yaml, as the catalog finds them)."""
    if not folder.is_dir():
        raise AdapterError(f"check {folder}: no such directory")
    try:
        names = sorted(entry.name for entry in folder.iterdir())
    except OSError as exc:
        raise AdapterError(f"check {folder}: cannot read ({exc.strerror})") from None
    trials = [name.removesuffix(".yaml").upper() for name in names if name.startswith("NCT") and name.endswith(".yaml")]
    if not trials:
        raise AdapterError(f"check {folder}: no trial mappings (NCT*.yaml) in it")
    return trials


def review_items(mapping: TrialMapping) -> list[tuple[str, str]]:
    """(criterion id or "-", why) for what in one loaded mapping still needs review."""
    items: list[tuple[str, str]] = []
    if mapping.draft:
        manual = sum(1 for c in mapping.criteria if c.kind == "manual")
        count = len(mapping.criteria)
        items.append((NO_CRITERION, f"draft: true — drafted by software, not clinically reviewed ({count} criteria, "
                                    f"{manual} manual); remove `draft: true` once reviewed"))
    items += [(c.id, f"needs_review: {' '.join(c.needs_review.split())}") for c in mapping.criteria if c.needs_review]
    return items


def check_trials(trials: list[str], catalog: TrialCatalog) -> tuple[list[str], list[TrialMapping]]:
    """The lines of `check` for `trials` of `catalog`, and the mappings that have any."""
    lines: list[str] = []
    flagged: list[TrialMapping] = []
    for nct in trials:
        try:
            mapping = catalog.get(nct).mapping
        except AdapterError as exc:  # a mapping or record that does not load is listed, not fatal to the rest
            lines.append(f"{nct}  {NO_CRITERION}  mapping error: {' '.join(str(exc).split())}")
            continue
        items = review_items(mapping)
        lines += [f"{nct}  {criterion}  {why}" for criterion, why in items]
        if items:
            flagged.append(mapping)
    return lines, flagged


def cmd_check(args: argparse.Namespace) -> int:
    from adapter.catalog import load_catalog

    folder: Path = args.folder
    trials = _site_trials(folder)  # a folder that is not one: exit 2 before anything is loaded
    # The bundled concept library and units, TRIAL_ADAPTER_MAPPINGS and --mappings under the site's own, as
    # `--mappings DIR` loads them for every other command.
    shared = [p for p in os.environ.get(ENV_MAPPINGS, "").split(os.pathsep) if p.strip()]
    try:
        catalog = load_catalog([*shared, *(args.mappings or ()), folder])
    except MappingError as exc:
        raise AdapterError(f"check {folder}: {exc}") from None
    lines, flagged = check_trials(trials, catalog)
    for line in lines:
        sys.stdout.write(line + "\n")
    if args.explain:
        from adapter.drafting.review import explain_mapping

        for mapping in flagged:
            only = None if mapping.draft else [c.id for c in mapping.criteria if c.needs_review]
            sys.stdout.write("\n" + explain_mapping(mapping, only=only))
    if lines:
        print(f"check: {len(lines)} item(s) to review in {folder} ({len(trials)} trial(s))", file=sys.stderr)
        return EXIT_TO_REVIEW
    print(f"check: nothing to review in {folder} ({len(trials)} trial(s), none draft or flagged)", file=sys.stderr)
    return EXIT_CLEAN


def add_review_commands(commands: Any) -> None:
    check = commands.add_parser(
        "check", help="list what in a site folder still needs review (exit 1 while anything does)")
    check.add_argument("folder", type=Path, metavar="DIR", help="a site folder of NCT….yaml + NCT….json")
    check.add_argument("--explain", action="store_true",
                       help="also print each flagged trial's criteria with their readings and the text behind them")
    check.add_argument("--mappings", action="append", type=Path, metavar="DIR",
                       help="folders loaded before DIR (e.g. a shared concept library); repeatable")
    check.set_defaults(run=cmd_check)
