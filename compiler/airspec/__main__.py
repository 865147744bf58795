"""`python -m airspec` runs the airspec CLI."""

from airspec.launch import main

main()
