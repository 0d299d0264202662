"""Snapshotters (only overlayfs)."""
