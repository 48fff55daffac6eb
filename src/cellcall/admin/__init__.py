"""cellcall-admin: the site's maintenance commands (they call the same services as the TUI)."""
