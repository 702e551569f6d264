import sys

from saunet.cli import main

sys.exit(main())
