"""Shared plumbing every context stands on: settings, storage, units of work, errors, time."""
