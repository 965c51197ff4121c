"""The application: the ``clickstream`` CLI and what it runs (demo, local stack, provisioning, deploy).

Top of the layers: it may import the core, the emitters and the pipeline; nothing imports it.
"""
