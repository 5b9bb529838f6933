import sys

from lcsuite.cli import main

sys.exit(main())
