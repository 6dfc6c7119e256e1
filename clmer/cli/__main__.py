"""`python -m clmer.cli ...` runs the same command line as the `clmer` console script."""

import sys

from clmer.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
