"""The emulated provider's batches: each one's clock-derived state, the store behind one lock, results built when
a batch ends, rate limits, persistence.
"""
