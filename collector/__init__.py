"""The HTTP front door: browsers and apps POST JSON events, the collector answers 202 once Pub/Sub holds them.

Imports only the core (``clickstream.core``): it validates with the same contract code as the
Python emitters and publishes the same Avro BINARY messages with the same attributes.
"""
