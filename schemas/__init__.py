"""Records (pydantic) and the SQL DDL of the store."""
from congvan.schemas.record import (  # noqa: F401
    Issuer, Movement, PageInfo, Provenance, Record, Reference, Signer, Source, Task,
)
