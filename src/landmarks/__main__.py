"""`python -m landmarks` runs the CLI."""

from landmarks.cli import main

main()
