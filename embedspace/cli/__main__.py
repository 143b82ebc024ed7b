"""`python -m embedspace.cli`: the same as the `embedspace` command."""

import sys

from . import main

sys.exit(main())
