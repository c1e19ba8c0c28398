"""CLI commands, one module per area; each registers on warmkeeper.clikit.app."""
