"""The frozen program's entry point: what the ``captionist`` console script (``app.cli:main``) runs in a virtual
environment, for PyInstaller (which takes a script, not an entry point). See captionist.spec."""

import multiprocessing
import sys

from app.cli import main

if __name__ == "__main__":
    # A frozen program started again as a multiprocessing child must run the child, not the program; a no-op
    # otherwise. The program starts no processes of its own today, but torch and the libraries below it may.
    multiprocessing.freeze_support()
    sys.exit(main())
