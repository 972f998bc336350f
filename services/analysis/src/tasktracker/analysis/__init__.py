"""Task Tracker analysis service: Analysis runs: lifecycle, batching, LLM task proposals."""
