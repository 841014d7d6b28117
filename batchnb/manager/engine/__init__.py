"""The engine: what a run does with the state (schedule, create at most once, reconcile, poll, collect, realtime
calls after a deadline, pilots, estimates).
"""
