"""Shared core of the clickstream project: the event contract, configuration,
the BigQuery table specs, the generated video catalog and the local stack."""
