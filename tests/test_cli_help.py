"""The command line as a user meets it: every option explains itself and shows its default."""

from __future__ import annotations

import argparse

import pytest

from keisei_fn.cli import build_parser


def _subcommands():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [("", parser)] + sorted(sub.choices.items())


@pytest.mark.parametrize(
    "name,parser", _subcommands(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_every_option_has_help_and_shows_its_default(name, parser):
    text = parser.format_help()
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        label = "/".join(action.option_strings) or action.dest
        assert action.help, f"keisei-fn {name}: {label} has no help line"
        if action.option_strings and action.default not in (None, False):
            line = " ".join(text.split())  # help is wrapped to the terminal
            assert f"{action.help} (default: {action.default})" in line or (
                "default" in action.help), f"keisei-fn {name}: {label} does not show its default"


def test_train_help_says_where_the_config_keys_are():
    train = dict(_subcommands())["train"]
    text = train.format_help()
    assert "--print-config" in text and "default.yaml" in text
