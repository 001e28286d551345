"""The `trial-adapter` argument parser: one-line usage errors with a "did you mean", and the command groups in the
order `--help` lists them (a module each)."""

from __future__ import annotations

import argparse
from typing import NoReturn

from adapter import __version__
from adapter.cli.options import EXIT_USAGE


class CommandParser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (exit 2, like every other input error) and, for a misspelt option,
    command or choice, a "did you mean" (the standard library's argparse of Python 3.11 suggests nothing)."""

    subcommands: dict[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{_did_you_mean(self, message)} "
                              f"(see {self.prog} --help)\n")


def _did_you_mean(parser: argparse.ArgumentParser, message: str) -> str:
    import difflib
    import re

    if message.startswith("unrecognized arguments: "):
        known = [o for action in parser._actions for o in action.option_strings if o.startswith("--")]
        words = [w.split("=", 1)[0] for w in message.removeprefix("unrecognized arguments: ").split()]
        guesses = [g for w in words if w.startswith("-") for g in difflib.get_close_matches(w, known, n=1)]
    elif "invalid choice: " in message and "(choose from " in message:
        wrong = re.search(r"invalid choice: '([^']*)'", message)
        choices = re.findall(r"'([^']*)'", message.split("(choose from ", 1)[1])
        guesses = difflib.get_close_matches(wrong.group(1), choices, n=1) if wrong else []
    else:
        return ""
    return f" (did you mean {', '.join(guesses)}?)" if guesses else ""


def build_parser() -> CommandParser:
    parser = CommandParser(
        prog="trial-adapter",
        description="ClinicalTrials.gov trials as FHIR, and patient eligibility explained criterion by criterion.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from adapter.cli.evaluate import add_evaluate_commands
    from adapter.cli.info import add_info_commands
    from adapter.cli.review import add_review_commands
    from adapter.cli.screen import add_screen_command
    from adapter.cli.service import add_service_commands
    from adapter.cli.trials import add_trial_commands

    add_trial_commands(commands)
    add_evaluate_commands(commands)
    add_info_commands(commands)
    add_service_commands(commands)
    add_screen_command(commands)
    add_review_commands(commands)
    parser.subcommands = dict(commands.choices)
    return parser
