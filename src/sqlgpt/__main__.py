"""`python -m sqlgpt` is the `sqlgpt` command."""

import sys

from .cli import main

sys.exit(main())
