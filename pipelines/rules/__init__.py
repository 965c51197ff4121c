"""Pure functions of the pipeline: no Beam imports here, so they test and benchmark alone."""
