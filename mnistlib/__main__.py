"""Run the command line: ``python -m mnistlib``."""

import sys

from mnistlib.cli import main

sys.exit(main())
