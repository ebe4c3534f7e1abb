"""Stages that move a file to a record: acquire → repair → extract → store → export."""
