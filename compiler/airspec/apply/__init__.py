"""`airspec apply`: read the live objects the manifest names, normalize, diff, report."""
