"""``python -m qshift`` (also what ``torchrun -m qshift`` runs).

Under torchrun the process joins the process group first (:mod:`qshift.distributed`).
"""

import sys

from qshift.cli import main
from qshift.distributed import torchrun_session

try:
    with torchrun_session():
        code = main()
except ValueError as err:  # a bad torchrun environment; main() reports its own errors
    print(f"qshift: error: {err}", file=sys.stderr)
    code = 2
raise SystemExit(code)
