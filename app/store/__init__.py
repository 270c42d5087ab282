"""The data layer: SQL over the tables, shared by every pipeline and interface."""
