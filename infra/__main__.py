"""Entry point of ``infra/``, for two callers.

* ``pulumi up|preview --stack <env>`` (``main: infra/`` in Pulumi.yaml) runs this file inside the Pulumi
  engine: it declares the stack (infra.program).
* ``python -m infra plan|reap ...`` runs the offline commands (infra.cli).
"""

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Pulumi runs this folder as a script (runpy.run_path), with infra/ itself on sys.path: make the
    # repository root importable so that `infra.*` resolves even without the editable install.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi.runtime

from infra.cli import is_command, main

if is_command(sys.argv[1:]):
    sys.exit(main(sys.argv[1:]))
elif pulumi.runtime.get_root_resource() is not None:
    from infra.program import run

    run()
else:
    from infra.cli import print_usage

    sys.exit(print_usage())
