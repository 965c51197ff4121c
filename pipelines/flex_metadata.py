"""The Flex Template's metadata.json, generated from the pipeline's own option parser.

``dataflow/metadata.json`` is this module's output; a test keeps it current, and Terraform
reads parameter names and defaults from it, so the options are described in one place.

    python -m pipelines.flex_metadata > dataflow/metadata.json
"""

from __future__ import annotations

import argparse
import json

from clickstream.core.span_exporters import EXPORTERS
from pipelines.options import CONSENT_DEFAULTS, WRITE_METHODS, ClickstreamOptions

_REGEXES = {
    "input_subscription": ["^$|^projects/[^/]+/subscriptions/[^/]+$"],
    "rejected_subscription": ["^$|^projects/[^/]+/subscriptions/[^/]+$"],
    "trace_sample_ratio": ["^(0(\\.[0-9]+)?|1(\\.0+)?)$"],
    "trace_exporter": [f"^({'|'.join(EXPORTERS)})$"],
    "input_topic": ["^$|^projects/[^/]+/topics/[^/]+$"],
    "write_method": [f"^({'|'.join(WRITE_METHODS)})$"],
    "consent_default": [f"^({'|'.join(CONSENT_DEFAULTS)})$"],
    "dataset": ["^[A-Za-z_][A-Za-z0-9_]*$"],
}


def metadata() -> dict:
    parser = argparse.ArgumentParser()
    ClickstreamOptions._add_argparse_args(parser)
    parameters = []
    for action in parser._actions:
        if action.dest == "help":
            continue
        regexes = _REGEXES.get(action.dest) or (["^[0-9]+$"] if action.type is int else None)
        entry = {
            "name": action.dest,
            "label": action.dest.replace("_", " ").capitalize(),
            "helpText": action.help,
            "paramType": "TEXT",
            "isOptional": True,
            "defaultValue": "" if action.default is None else str(action.default),
        }
        if regexes:
            entry["regexes"] = regexes
        parameters.append(entry)
    return {
        "name": "Clickstream streaming pipeline",
        "description": "Pub/Sub -> validate, de-duplicate, enrich, sessionize -> BigQuery, with dead letters.",
        "parameters": parameters,
    }


if __name__ == "__main__":
    print(json.dumps(metadata(), indent=2))
