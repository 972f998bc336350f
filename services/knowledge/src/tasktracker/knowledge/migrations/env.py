from tasktracker.knowledge.db.models import Base
from tasktracker.servicekit.migrations import run_env

run_env(Base.metadata)
