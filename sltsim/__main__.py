import sys

from sltsim.cli import main

sys.exit(main())
