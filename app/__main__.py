"""``python -m app`` is the ``kompakt`` command."""

import sys

from app.cli import main

sys.exit(main())
