import sys

from estimation_engine.cli import main

sys.exit(main())
