"""Diagnostic codes and spec rules; `registry.all_rules()` loads every rule module."""
