"""Task memory: learn experiences from scored trajectories, retrieve them, count their use, prune.

Modules: ``summary`` and ``summary_simple`` (learning), ``candidates`` (what both do with
proposed memories), ``runs`` (input stored first, failures recorded, async jobs),
``retrieve``, ``record`` (counters and pruning), ``trajectories`` (reading the input),
``llm_outputs`` (structured answers and prompts), ``domain`` (shared objects).
"""
