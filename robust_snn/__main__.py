"""``python -m robust_snn`` == ``robust-snn``."""

import sys

from .cli import main

sys.exit(main())
