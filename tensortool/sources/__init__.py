"""One reader module per data kind; each returns a Bundle."""
