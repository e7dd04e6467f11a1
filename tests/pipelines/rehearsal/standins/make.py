"""Stand-in for make (ci.yml runs `make lint` and `make test`): records the targets and checks the Makefile
in the working directory defines them. Running them would be running this test suite inside itself."""

from __future__ import annotations

import re
from pathlib import Path

from common import RefusedError, run


def main(argv: list[str], details: dict) -> int:
    makefile = Path("Makefile")
    if not makefile.is_file():
        raise RefusedError("No targets specified and no makefile found.  Stop.", code=2)
    defined = set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", makefile.read_text(), flags=re.MULTILINE))
    for target in [arg for arg in argv if not arg.startswith("-") and "=" not in arg]:
        if target not in defined:
            raise RefusedError(f"*** No rule to make target '{target}'.  Stop.", code=2)
    return 0


if __name__ == "__main__":
    run("make", main)
