"""Access: users, roles, data scopes, sessions, API keys and the audit log."""
