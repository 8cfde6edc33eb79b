"""``python -m benchmark.cli``: the same as ``amss-bench``."""

import sys

from benchmark.cli import main

sys.exit(main())
