#!/usr/bin/env python3
"""Quality evaluation (same as `streamfx eval`): self- and cross-reenactment tables."""

import argparse
import logging
import sys

from streamfx.evaluation import add_arguments, main

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="eval: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
