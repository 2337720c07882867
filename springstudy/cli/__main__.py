"""``python -m springstudy.cli``: the same as the ``springstudy`` console script."""

import sys

from springstudy.cli.main import main

sys.exit(main())
