"""The arithmetic of a run, with no I/O: jobs (``JobRecord``), slicing items into jobs and their worst cases,
what fits under ``max_cost``, the deadline.
"""
