"""The CLI's option defaults are Config's field defaults: pounce/cli.py reads them from
``Config`` (their one definition), so a default changed there is what ``pounce`` runs with and
what ``pounce --help`` shows."""

from __future__ import annotations

import dataclasses

import click

from pounce.cli import cli
from pounce.config import Config

FIELDS = {f.name: f for f in dataclasses.fields(Config)}
# --log-config's None means "not given": cli() then leaves Config's own default (a dict).
NOT_GIVEN = {"log_config"}


def _options_named_after_fields() -> list[click.Parameter]:
    return [
        param
        for param in cli.params
        if param.name in FIELDS
        and param.name not in NOT_GIVEN
        # Repeatable options: click gives () when none is given, as Config's defaults are.
        and not getattr(param, "multiple", False)
        and FIELDS[param.name].default is not dataclasses.MISSING
    ]


def test_each_option_defaults_to_its_config_field() -> None:
    options = _options_named_after_fields()
    assert len(options) >= 60, [p.name for p in options]  # not vacuous: nearly every option
    wrong = {
        p.name: (p.default, FIELDS[p.name].default)
        for p in options
        if p.default != FIELDS[p.name].default
        or type(p.default) is not type(FIELDS[p.name].default)
    }
    assert not wrong, wrong
