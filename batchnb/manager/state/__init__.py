"""The state of a run: its model changed only by events, the files on disk (snapshot, journal, results log,
lock), the recorder that writes before it applies, and reading results back.
"""
