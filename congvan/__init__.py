"""congvan: a document-processing pipeline for Vietnamese official dispatches."""

__version__ = "0.1.0"
# Bumped whenever acquisition, repair or extraction changes what a record holds,
# so stored records and caches can tell which pipeline produced them.
PIPELINE_VERSION = "2026.11.1"
