"""Task Tracker ingestion service: Telegram webhook, projects and chat bindings, messages."""
