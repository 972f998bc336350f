"""The knowledge service's pure rules: no database, no NATS, no HTTP."""
