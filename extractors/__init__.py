"""Extractors: each takes a Document and returns values with spans, method and confidence."""
