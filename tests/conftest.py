"""Shared test set-up: Node 22 for jsii, and apps checked by cdk-nag and cfn-lint."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# jsii starts the first `node` on PATH: use the project's Node 22 even when pytest
# is run without `make` (the Makefile sets the same PATH).
_node_bin = ROOT / "node_modules" / ".bin"
if _node_bin.is_dir() and str(_node_bin) not in os.environ.get("PATH", ""):
    os.environ["PATH"] = f"{_node_bin}{os.pathsep}{os.environ.get('PATH', '')}"
