"""clickstream: emitters -> Pub/Sub -> Beam pipeline -> BigQuery, and the tools around them.

Layers, bottom up (``.importlinter`` holds the direction; ``docs/architecture.md`` tells why):

* ``clickstream.core``: the contract, configuration, table specs, SQL rendering, client
  factories, the reason vocabulary and the ledger reader. It imports nothing else of ours.
* ``emitters`` and ``pipelines`` (top-level packages): import only the core.
* ``clickstream.app``: the CLI, the demo, the local stack, provisioning and deploy. Nothing
  imports it.
"""
