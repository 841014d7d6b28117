"""``BatchManager`` and what a person touches: options, inputs taken once, the DataFrame, panel and pilot views,
the ``df.batchnb`` accessor.
"""
