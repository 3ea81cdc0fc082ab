"""`python -m zoe_ems` is the `zoe-ems` command."""

import sys

from zoe_ems.cli import main

sys.exit(main())
