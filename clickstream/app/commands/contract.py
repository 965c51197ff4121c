"""`clickstream contract show`."""

from __future__ import annotations

import typer
from rich.table import Table

from clickstream.app.commands.common import (
    console,
)
from clickstream.core import contract
from emitters.events import encode_event
from emitters.simulator import Simulator, TrafficProfile

contract_app = typer.Typer(help="Inspect the event contract in schemas/.", no_args_is_help=True)


@contract_app.command("show")
def contract_show() -> None:
    """List contract revisions and the encoded size of sample events."""
    table = Table(title="contract revisions (schemas/avro)")
    table.add_column("version")
    table.add_column("current")
    current = contract.current_version()
    for version in contract.revisions():
        table.add_row(version, "yes" if version == current else "")
    console.print(table)
    import itertools
    import json

    sample = [e.event for e in itertools.islice(Simulator(TrafficProfile(seed=1), 0).emissions(), 1000)]
    avro = sum(len(encode_event(e)) for e in sample) / len(sample)
    as_json = sum(len(json.dumps(e.to_record(), default=str)) for e in sample) / len(sample)
    console.print(f"1000 simulated events: Avro BINARY {avro:.0f} bytes/event, JSON {as_json:.0f} bytes/event")


@contract_app.command("rules")
def contract_rules() -> None:
    """Print the validation rules (schemas/validation.json) as the Markdown table docs/pipeline.md shows."""
    typer.echo(contract.rules_markdown(), nl=False)
