"""airspec: compile an Airflow deployment's cloud wiring from one spec."""

__version__ = "0.1.0"
SPEC_API_VERSION = "airspec/v1"  # the spec language this airspec compiles
