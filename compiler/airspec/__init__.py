"""airspec: compile an Airflow deployment's cloud wiring from one spec."""

__version__ = "0.1.0"
