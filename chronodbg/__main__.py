"""`python -m chronodbg` is the `chronodbg` command."""

import sys

from chronodbg.cli import main

if __name__ == "__main__":
    sys.exit(main())
