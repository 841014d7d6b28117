"""What the emulated API accepts and how it misbehaves on purpose: models and prices, request validation, API
errors, scripted faults.
"""
