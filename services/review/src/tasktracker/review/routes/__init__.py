"""HTTP routes: proposals (list, read, edit, decide) and tasks (list, read, change)."""
