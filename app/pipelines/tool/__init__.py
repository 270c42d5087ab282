"""Tool memory: record tool-call results, judge them, and keep a guideline per tool.

- ``record``: ``add_tool_call_result`` (validate, dedup by hash, store, judge, keep the latest N)
- ``summary``: ``summary_tool_memory`` (the model writes a guideline; statistics come from SQL)
- ``retrieve``: ``retrieve_tool_memory`` (guidelines by exact tool name)
"""
