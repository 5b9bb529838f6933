"""pytest plugin for lcsuite claim files (being written)."""
