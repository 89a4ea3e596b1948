"""``python -m codegreen ...`` is the ``codegreen`` command (see codegreen._cli)."""

import sys

from ._cli import main

sys.exit(main())
