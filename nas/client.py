"""A Python client of the REST API (`nas serve`), for a user on another machine: submit a spec,
follow the job, read its front, download an export. Only the URL and a token are needed; nothing
of the server's filesystem. `nas remote ...` is this client on the command line.

    client = Client("http://nas.example:8000", token)
    job = client.submit("my-job.yaml")
    done = client.wait(job["id"])
    front = client.pareto(job["id"])
    model_dir = client.export(job["id"], front[0]["candidate"], "model/")
"""

from __future__ import annotations

import tarfile
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from nas.statuses import JobStatus


class ClientError(Exception):
    """The server refused a request (4xx) or failed (5xx): its status and what it said."""

    def __init__(self, status_code: int, detail: Any):
        self.status_code, self.detail = status_code, detail
        super().__init__(f"HTTP {status_code}: {_describe(detail)}")


class Client:
    def __init__(self, url: str, token: str | None, timeout: float = 60.0):
        """`token`: the server's --token (None only reaches /health)."""
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url: {url!r} is not an http(s) URL, e.g. http://127.0.0.1:8000")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the service ----
    def health(self) -> dict[str, Any]:
        return self._json("GET", "/health")

    def submit(self, spec: Mapping[str, Any] | str | Path) -> dict[str, Any]:
        """Queue a job: a spec mapping, or the path of a YAML / JSON spec file (sent as written,
        so the server reports problems by the file's lines). Returns the job's summary."""
        if isinstance(spec, Mapping):
            return self._json("POST", "/jobs", json=dict(spec))
        text = Path(spec).read_text(encoding="utf-8")
        media = "application/json" if text.lstrip().startswith("{") else "application/yaml"
        return self._json("POST", "/jobs", content=text.encode("utf-8"), headers={"Content-Type": media})

    def upload(self, path: str | Path, text_column: str | None = None, label_column: str | None = None) -> dict[str, Any]:
        """Upload a CSV / JSONL / NPZ task file; returns the dataset (its `id` goes in a spec as
        `task: {dataset: ID}`). The server checks it as a job's task file."""
        path = Path(path)
        params = {"name": path.name, **({"text_column": text_column} if text_column else {}), **({"label_column": label_column} if label_column else {})}
        with path.open("rb") as f:
            return self._json("POST", "/datasets", params=params, content=f.read(), headers={"Content-Type": "application/octet-stream"})

    def datasets(self) -> list[dict[str, Any]]:
        return self._json("GET", "/datasets")

    def delete_dataset(self, dataset_id: str) -> dict[str, Any]:
        return self._json("DELETE", f"/datasets/{dataset_id}")

    def jobs(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every job (all pages), optionally in one status."""
        out: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params = {"limit": "500", **({"status": status} if status else {}), **({"after": after} if after else {})}
            response = self._request("GET", "/jobs", params=params)
            out += response.json()
            after = response.headers.get("X-Next-After")
            if not after:
                return out

    def status(self, job_id: int) -> dict[str, Any]:
        return self._json("GET", f"/jobs/{job_id}")

    def wait(self, job_id: int, poll_s: float = 2.0, timeout_s: float | None = None) -> dict[str, Any]:
        """The job's summary once it has finished (succeeded, failed or cancelled); TimeoutError
        after `timeout_s`."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            summary = self.status(job_id)
            if JobStatus(summary["status"]).finished:
                return summary
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {summary['status']} after {timeout_s:g} s")
            time.sleep(poll_s)

    def cancel(self, job_id: int) -> dict[str, Any]:
        return self._json("POST", f"/jobs/{job_id}/cancel")

    def delete(self, job_id: int) -> dict[str, Any]:
        return self._json("DELETE", f"/jobs/{job_id}")

    def candidates(self, job_id: int, status: str | None = None) -> list[dict[str, Any]]:
        return self._json("GET", f"/jobs/{job_id}/candidates", params={"status": status} if status else None)

    def pareto(self, job_id: int, objectives: Sequence[str] | None = None, verified: bool = False) -> list[dict[str, Any]]:
        params = {**({"objectives": ",".join(objectives)} if objectives else {}), **({"verified": "true"} if verified else {})}
        return self._json("GET", f"/jobs/{job_id}/pareto", params=params or None)

    def export(self, job_id: int, candidate: int, out_dir: str | Path, format: str = "pytorch", **options: Any) -> Path:
        """Export a done candidate on the server (`options`: finetune_epochs, finetune_lr,
        keep_worse, weights), download it and unpack it into the local `out_dir` (which must
        not exist or be empty). Returns `out_dir`."""
        out = Path(out_dir)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise FileExistsError(f"out_dir: {out} exists and is not an empty directory")
        made = self._json("POST", f"/jobs/{job_id}/export", json={"candidate": candidate, "format": format, **options})
        with tempfile.TemporaryDirectory(prefix="nas-download-") as scratch:
            archive = Path(scratch) / "export.tar.gz"
            with self._http.stream("GET", f"/artifacts/{made['artifact_id']}") as response:
                if response.status_code >= 400:
                    response.read()
                    raise ClientError(response.status_code, _detail(response))
                with archive.open("wb") as f:
                    for chunk in response.iter_bytes():
                        f.write(chunk)
            with tarfile.open(archive) as tar:
                members = tar.getmembers()
                for member in members:  # what tarfile's "data" filter refuses, also where it is missing (< 3.11.4)
                    if member.issym() or member.islnk() or member.name.startswith("/") or ".." in Path(member.name).parts:
                        raise ClientError(200, f"the export archive holds an unsafe entry {member.name!r}; not unpacked")
                (top,) = {Path(m.name).parts[0] for m in members}  # one directory, named like the download
                tar.extractall(scratch, members=members, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
            out.mkdir(parents=True, exist_ok=True)
            for item in (Path(scratch) / top).iterdir():
                item.rename(out / item.name)
        return out

    # ---- transport ----
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ClientError(response.status_code, _detail(response))
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()


def _detail(response: httpx.Response) -> Any:
    try:
        return response.json().get("detail", response.text)
    except ValueError:
        return response.text


def _describe(detail: Any) -> str:
    """The server's `detail`: a message, or FastAPI's list of {loc, msg} problems as lines."""
    if isinstance(detail, list):
        return "; ".join(f"{'.'.join(str(p) for p in item.get('loc', ())[1:]) or 'body'}: {item.get('msg')}" if isinstance(item, dict) else str(item) for item in detail)
    return str(detail)
