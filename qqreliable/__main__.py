"""``python -m qqreliable``: see :mod:`qqreliable.cli`."""

import sys

from .cli import main

sys.exit(main(prog="python -m qqreliable"))
