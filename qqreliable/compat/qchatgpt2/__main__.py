"""``python -m qqreliable.compat.qchatgpt2 --config config.py --plugins plugins/``."""

import sys

from .runner import main

if __name__ == "__main__":
    sys.exit(main())
