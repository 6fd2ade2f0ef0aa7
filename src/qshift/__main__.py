"""``python -m qshift`` (also what ``torchrun -m qshift`` runs)."""

from qshift.cli import main

raise SystemExit(main())
