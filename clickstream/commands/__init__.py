"""The ``clickstream`` sub-commands, one module per area; ``clickstream.cli`` assembles them."""
