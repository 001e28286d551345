"""The HTTP edge: a CDS Hooks 2.0 service (`patient-view`) and a small REST API over the pure core.

`create_app(settings, catalog)` builds the FastAPI application; `trial-adapter serve` runs it with uvicorn.
"""

from adapter.service.app import create_app
from adapter.service.settings import ServiceSettings, load_settings

__all__ = ["ServiceSettings", "create_app", "load_settings"]
