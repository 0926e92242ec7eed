"""Shared plumbing used by every domain package: settings, databases, migrations, canonical JSON."""
