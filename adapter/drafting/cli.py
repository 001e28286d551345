"""The `trial-adapter draft` command's work: read or fetch the record, draft, write both files."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from adapter.drafting.draft import DraftError, draft_mapping, write_draft

if TYPE_CHECKING:
    from adapter.catalog import TrialCatalog


def _record_data(args: argparse.Namespace) -> dict[str, Any]:
    from adapter.ctgov.parse import decode_record_json, read_record_file  # the reader's own checks

    if (args.nct_id is None) == (args.record is None):
        raise DraftError("give either an NCT number (fetched live) or --record FILE")
    if args.nct_id is not None:
        from adapter.ctgov.fetch import fetch_record

        return fetch_record(args.nct_id, timeout=args.timeout)
    content = read_record_file(args.record)
    data = decode_record_json(content, str(args.record))
    if isinstance(data, dict) and "studies" in data and "protocolSection" not in data:
        studies = data["studies"]
        if isinstance(studies, list) and len(studies) == 1 and isinstance(studies[0], dict):
            return studies[0]
    if not isinstance(data, dict):
        raise DraftError(f"{args.record}: expected a JSON object (an API v2 study record)")
    return data


def run_draft(args: argparse.Namespace, catalog: TrialCatalog) -> int:
    from adapter.ctgov.parse import parse_record

    data = _record_data(args)
    source = str(args.record) if args.record is not None else args.nct_id
    record = parse_record(data, source)
    if not isinstance(data.get("protocolSection", {}).get("eligibilityModule"), dict):
        raise DraftError(f"{source}: no protocolSection.eligibilityModule; nothing to draft")
    draft = draft_mapping(record, catalog.concepts)
    mapping, saved = write_draft(draft, data, args.out)
    if getattr(args, "explain", False):  # the review's reading aid: readings and the text behind each
        from adapter.drafting.draft import check, with_drafted
        from adapter.drafting.review import explain_draft

        sys.stdout.write(explain_draft(draft, check(draft, catalog.concepts), with_drafted(draft, catalog.concepts)))
    manual = sum(1 for c in draft.criteria if set(c.recognition.definition) == {"manual"})
    review = sum(1 for c in draft.criteria if c.recognition.needs_review)
    print(f"wrote {mapping} and {saved}: {len(draft.criteria)} criteria, {len(draft.criteria) - manual} computable "
          f"({review} with needs_review), {manual} manual; draft mapping, not clinically reviewed", file=sys.stderr)
    return 0
