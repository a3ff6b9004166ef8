import sys

from lightbus.cli import main

sys.exit(main())
