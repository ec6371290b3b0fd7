"""``python -m mind_core.cli``: the ``mind-core`` command."""

import sys

from mind_core.cli import main

sys.exit(main())
