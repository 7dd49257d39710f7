"""The REST API (FastAPI): submit and follow jobs, query Pareto fronts, export candidates.

Every route but /health needs `Authorization: Bearer <token or key>`, or the session cookie of the
dashboard (`nas.dashboard`, served at / by the same app). One module per resource: `auth` (who a
request comes from, /me), `jobs`, `artifacts`, `datasets`; `errors` maps the service's errors to
HTTP; `docs` serves the OpenAPI description; `app` wires them (`create_app`) and runs the server
with its coordinators (`serve`). The routes are thin: the work is in `nas.service`, shared with
the CLI. Jobs accepted here are run by the coordinators `serve` starts beside the API, or by a
separate `nas coordinator` fleet.
"""

from nas.api.app import TOKEN_ENV, create_app, serve

__all__ = ["TOKEN_ENV", "create_app", "serve"]
