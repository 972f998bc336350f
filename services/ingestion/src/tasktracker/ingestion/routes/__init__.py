"""Thin HTTP routes: parse, call the db/ingest layer, shape the answer."""
