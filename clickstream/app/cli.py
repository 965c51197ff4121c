"""The ``clickstream`` command line: local stack, collector, traffic, pipeline, warehouse, deploy."""

from __future__ import annotations

import typer

from clickstream.app.commands.collector import collector_app
from clickstream.app.commands.common import resolve_endpoints
from clickstream.app.commands.contract import contract_app
from clickstream.app.commands.demo import demo_cmd
from clickstream.app.commands.deploy import deploy_cmd
from clickstream.app.commands.evaluate import evaluate_cmd
from clickstream.app.commands.ledger import ledger_cmd
from clickstream.app.commands.local import local_app
from clickstream.app.commands.pipeline import pipeline_app, replay_cmd
from clickstream.app.commands.privacy import privacy_app
from clickstream.app.commands.traffic import emit
from clickstream.app.commands.warehouse import query_cmd, recommend_cmd, signals_app

__all__ = ["app", "main", "resolve_endpoints"]

app = typer.Typer(help="Clickstream: emitters, pipeline and warehouse on Google Cloud.", no_args_is_help=True)
app.add_typer(local_app, name="local")
app.add_typer(collector_app, name="collector")
app.add_typer(contract_app, name="contract")
app.add_typer(pipeline_app, name="pipeline")
signals_app.command("evaluate")(evaluate_cmd)
app.add_typer(signals_app, name="signals")
app.add_typer(privacy_app, name="privacy")
app.command("demo")(demo_cmd)
app.command("emit")(emit)
app.command("replay")(replay_cmd)
app.command("query")(query_cmd)
app.command("ledger")(ledger_cmd)
app.command("recommend")(recommend_cmd)
app.command("deploy")(deploy_cmd)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
