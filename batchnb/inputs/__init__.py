"""What the user hands over, checked before anything is spent: sequences taken as inputs, ``Item``s, documents
and images, request bodies and custom_ids, the request contract applied.
"""
