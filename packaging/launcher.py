"""Entry point of the bundled app: ``kompakt`` with no arguments opens the GUI, with arguments runs the CLI.

``freeze_support()`` must run first: conversions run in spawned child processes, and in a frozen app a child is
this same executable started with multiprocessing's arguments.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from app.cli import main

    sys.exit(main())
