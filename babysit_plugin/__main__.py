import sys

from babysit_plugin.cli import main

sys.exit(main())
