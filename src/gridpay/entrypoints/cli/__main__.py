"""``python -m gridpay.entrypoints.cli`` runs the command line (as the ``gridpay`` script does)."""

from gridpay.entrypoints.cli import main

main()
