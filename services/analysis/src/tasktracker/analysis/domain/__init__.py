"""Pure rules of analysis runs: no database, no NATS."""
