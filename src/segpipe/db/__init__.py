"""Database access: engine and connections, embedded server, migrations, table definitions."""
