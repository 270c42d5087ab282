"""Clients for the models the service calls: the chat model and the embedding model."""
