"""Entry point of ``python -m lengen_core``."""

import sys

from lengen_core.cli import main

sys.exit(main())
