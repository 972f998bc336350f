"""The knowledge API, scoped by project: `/api/projects/{project_id}/knowledge/...`."""
