"""BigQuery clients that point at the local stand-in when Settings say so.

Real BigQuery is the default; a set ``bigquery_endpoint`` switches to the stand-in with
anonymous credentials, so no login is ever attempted offline.
"""

from __future__ import annotations

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from clickstream.core.config import Settings


def bigquery_client(settings: Settings) -> bigquery.Client:
    if settings.bigquery_endpoint:
        return bigquery.Client(
            project=settings.project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=settings.bigquery_endpoint),
        )
    return bigquery.Client(project=settings.project)
