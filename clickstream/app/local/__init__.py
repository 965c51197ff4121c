"""The local stack: installing the BigQuery stand-in, processes by PID, and the services' lifecycle."""
