"""Infrastructure shared by every Task Tracker service.

Everything here is an adapter at the edge (settings, database, outbox relay, NATS, TaskIQ,
HTTP error handling, health checks). No business rules live here, and nothing here imports a
service: services depend on this kit and on `tasktracker.contracts`, never on each other.
"""
