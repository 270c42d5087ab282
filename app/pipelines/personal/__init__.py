"""Personal memory: facts about a user, reconciled with what is known, retrieved with time awareness.

``summary`` reads facts from conversations (``reconcile``, ``profile`` and ``persist`` are its
later steps); ``retrieve`` finds them again for a question.
"""
