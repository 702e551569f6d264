"""Fixtures shared with the package's own tests (tests/conftest.py), and the research
modules on the import path (pytest's ``pythonpath`` setting in pyproject.toml)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "tests" / "conftest.py"
_spec = importlib.util.spec_from_file_location("saunet_tests_conftest", _PATH)
_shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shared)

one_thread = _shared.one_thread
tiny_checkpoint = _shared.tiny_checkpoint
shared_data_root = _shared.shared_data_root
