"""The NAS service: job specs (`job`), the SQL store (`store`), tasks and their data (`tasks`),
supernet training (`training`), running a search on Ray (`search`), fronts and plots (`results`),
export (`export`); `service` holds the operations the CLI (`cli`) and the REST API (`api`) share.
docs/design.md maps the data flow onto these packages."""
