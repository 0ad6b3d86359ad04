"""Lambda function code deployed by vpcwatch constructs, one folder per function.

This folder is the single source of the code. The wheel carries it as the package
``vpcwatch.functions`` (a setuptools ``package-dir`` mapping in pyproject.toml), and
constructs find a function's folder with :func:`vpcwatch.functions.path`, so an
installed vpcwatch synthesizes the same asset as this checkout.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def path(name: str) -> Path:
    """The folder of the function ``name`` (``"enricher"``), as a real directory.

    Raises:
        FileNotFoundError: no such function, or the package is not installed as files
            (a zip import), which an asset cannot be built from.
    """
    folder = Path(str(resources.files(__name__) / name))
    if not (folder / "handler.py").is_file():
        raise FileNotFoundError(
            f"vpcwatch's Lambda code {name!r} is not at {folder}: reinstall vpcwatch from a "
            "wheel or a checkout (not a zip)"
        )
    return folder
