"""Prefect flows and schedules around the plain pipeline functions."""
