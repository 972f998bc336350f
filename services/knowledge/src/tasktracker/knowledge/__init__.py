"""Task Tracker knowledge service: LLM extraction of topics and knowledge atoms; their review."""
