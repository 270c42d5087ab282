"""Helpers shared by the test suites: the scripted stand-in for the model API."""
