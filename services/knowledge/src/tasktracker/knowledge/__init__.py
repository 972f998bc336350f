"""Task Tracker knowledge service: LLM extraction of topics and knowledge atoms, and their review."""
