import sys

from estimation_engine.batch.azureml.cli import main

sys.exit(main())
