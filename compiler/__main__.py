"""`python -m compiler` runs the airspec CLI."""

from compiler.cli import main

main()
