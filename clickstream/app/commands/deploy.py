"""`clickstream deploy`: image, Flex Template, Terraform."""

from __future__ import annotations

from typing import Annotated

import typer

from clickstream.app import deploy
from clickstream.app.commands.common import (
    console,
)


def deploy_cmd(
    project: Annotated[str, typer.Option(help="Google Cloud project id")],
    region: Annotated[str, typer.Option(help="Region for Dataflow, BigQuery and the bucket")] = "us-central1",
    tag: Annotated[str | None, typer.Option(help="Image and template tag [the git commit]")] = None,
    name_prefix: Annotated[str, typer.Option(help="Prefix of resource names")] = "clickstream",
    yes: Annotated[bool, typer.Option("--yes", help="Apply Terraform without asking")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the exact commands, run nothing")] = False,
) -> None:
    """Build the image (Cloud Build), build the Flex Template, then apply Terraform."""
    plan = deploy.DeployPlan(project, region, tag or deploy.current_tag(), name_prefix, yes)
    console.print(f"deploying image {plan.image}\n          template {plan.template}")
    code = deploy.run(plan, dry_run, lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True))
    if code:
        raise typer.Exit(code)
