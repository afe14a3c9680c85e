"""Renders the Jinja2 templates in firmware_templates/ (loops and placeholders only) and writes generated files."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "firmware_templates"


@lru_cache(maxsize=1)
def _env():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)


def render(name: str, **context) -> str:
    """Render firmware_templates/<name> with `context`; missing placeholders are errors, not blanks."""
    return _env().get_template(name).render(**context)


def write_generated(path: Path, data: str | bytes) -> bool:
    """Write a generated file unless it already holds exactly `data` (so its mtime stays, and make and the
    firmware's object cache see nothing changed); True when it was written."""
    data = data.encode() if isinstance(data, str) else data
    if path.is_file() and path.read_bytes() == data:
        return False
    path.write_bytes(data)
    return True
