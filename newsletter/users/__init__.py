"""The people who run the service: admin accounts (invite, roles, passwords), their second
factor and their sessions. Web, CLI and tests call these; each writes its own audit rows."""
