import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CONGVAN_SHARED", ROOT.parent / "shared"))
SEEDS = SHARED / "seeds"
REALWORLD = SHARED / "realworld"
SAMPLES = ROOT / "samples"


@pytest.fixture
def seeds_dir() -> Path:
    if not SEEDS.is_dir():
        pytest.skip("../shared/seeds is not beside the checkout")
    return SEEDS


def seed_text(prefix: str) -> str:
    """The seed whose file name starts with `prefix` ("000"…"004")."""
    (path,) = sorted(SEEDS.glob(f"{prefix}_*.txt"))
    return path.read_text(encoding="utf-8")
