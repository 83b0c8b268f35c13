"""``python -m inquire.cli`` runs the command line."""

from . import main

main()
