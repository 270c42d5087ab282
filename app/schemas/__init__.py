"""Request models shared by the interfaces (routes, MCP) and the pipelines that take them.

They sit below both, so routes and pipelines import them without importing each other.
"""
