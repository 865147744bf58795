"""`python -m airspec` runs the airspec CLI."""

from airspec.cli import main

main()
