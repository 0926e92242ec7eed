"""``python -m kruispunt`` runs the same command as ``kruispunt``."""

from kruispunt.cli import main

main()
