"""The ``clickstream`` sub-commands, one module per area; ``clickstream.app.cli`` assembles them."""
