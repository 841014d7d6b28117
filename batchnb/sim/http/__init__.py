"""The wire: one HTTP request to one answer (routing, faults, auth) and the threaded server."""
