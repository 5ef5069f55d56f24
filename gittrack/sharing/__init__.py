"""Sharing: push, fetch and pull through the git CLI, bundles, git hooks, checkout and the trash."""
