"""`python -m warmkeeper` runs the command line."""

from warmkeeper.cli import main

main()
