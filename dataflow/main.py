"""Flex Template entry point: the launcher runs this file with the job's parameters."""

import logging
import sys

from pipelines.streaming import run

if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    run(sys.argv[1:])
