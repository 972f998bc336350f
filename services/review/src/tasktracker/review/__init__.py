"""Task Tracker review service: Project managers' decisions on task proposals, and tasks."""
