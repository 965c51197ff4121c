"""The core: what the emitters, the pipeline and the application share. Imports nothing else of ours.

The emitter library installs with the core and no extra: modules that talk to BigQuery
(``tables``, ``sql``, ``ledger``, ``bigquery_clients``) need the ``[pipeline]`` or ``[cli]`` extra.
"""
