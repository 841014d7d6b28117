"""Results and their money: token usage, the dated price table, one result line into an ``ItemResult``, a results
frame's rows as plain lists.
"""
