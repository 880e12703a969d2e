"""The `yipan` command line: thin commands over the same services the API calls."""
