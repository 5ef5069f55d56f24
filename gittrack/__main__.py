"""``python -m gittrack`` runs the command line."""

from gittrack.cli.main import main

main()
