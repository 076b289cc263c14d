"""A real HTTP server on 127.0.0.1 that speaks the part of the Hugging Face hub protocol huggingface_hub 2.x uses
to list and download model files, serving repositories made of local folders.

Endpoints (as huggingface_hub 2.4 calls them; see hf_api.model_info/list_repo_tree and
file_download.get_hf_file_metadata/http_get):

- ``GET /api/models/{repo}`` and ``GET /api/models/{repo}/revision/{rev}``: ``{"id", "sha", "siblings"}``; with
  ``?blobs=true`` (``files_metadata=True``) each sibling also has ``size``, ``blobId`` and, for LFS files,
  ``lfs: {sha256, size, pointerSize}``.
- ``GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=..``: ``[{"type", "path", "size", "oid", "lfs"}]``.
- ``HEAD``/``GET /{repo}/resolve/{rev}/{file}``: ``ETag`` (git blob id), ``X-Repo-Commit``, ``Content-Length``.
  LFS files are answered like the real hub: ``302`` to a second server standing in for the CDN (another origin,
  so the client does not follow it on HEAD), with ``X-Linked-Etag`` (sha256) and ``X-Linked-Size``.
- The CDN serves the bytes; both servers honour ``Range: bytes=N-`` with ``206`` and ``Content-Range``.
- Errors carry ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``) as the hub's do, which is
  how huggingface_hub tells them apart.

Knobs for tests: per-file or global throttling (bytes/s), corrupting a file's served bytes, answering everything
with an error status (a hub that is down; an unknown repo is a 404 by itself), and a log of every request with the
bytes actually written to the socket.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

_CHUNK = 4096  # small writes, so a throttled file arrives in many pieces and a client can stop mid-file
_LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth")


def git_blob_id(data: bytes) -> str:
    """The id git gives a file's content (what the hub lists as a regular file's oid / blobId)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class HubFile:
    path: str
    source: Path
    size: int
    sha256: str
    lfs: bool

    @property
    def pointer(self) -> bytes:
        """The git-lfs pointer stored in git in place of an LFS file."""
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {self.size}\n".encode()

    @property
    def oid(self) -> str:
        """Git blob id: of the pointer for LFS files, of the content otherwise."""
        return git_blob_id(self.pointer if self.lfs else self.source.read_bytes())


@dataclass
class HubRepo:
    repo_id: str
    commit: str
    files: dict[str, HubFile]
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> commit

    def resolve(self, rev: str) -> str | None:
        if rev == self.commit:
            return self.commit
        return self.refs.get(rev)


@dataclass(frozen=True)
class Request:
    """One request as the servers saw it. `filename` is set for file downloads (hub resolve or CDN)."""

    server: str  # "hub" or "cdn"
    method: str
    path: str
    query: str
    headers: dict[str, str]
    status: int
    bytes_sent: int  # body bytes written to the socket
    repo_id: str | None = None
    filename: str | None = None

    @property
    def range(self) -> str | None:
        return self.headers.get("range")


class FakeHub:
    """Serve local folders as hub model repos; use as a context manager (starts/stops both servers)."""

    def __init__(self, *, lfs_redirect: bool = True) -> None:
        self.lfs_redirect = lfs_redirect
        self._repos: dict[str, HubRepo] = {}
        self._log: list[Request] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._throttle: dict[tuple[str, str] | None, float] = {}
        self._corrupt: set[tuple[str, str]] = set()
        self._fail_status: int | None = None
        self._hub = _Server(self, "hub")
        self._cdn = _Server(self, "cdn")
        self._threads: list[threading.Thread] = []

    # Lifecycle ---------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The endpoint to give huggingface_hub (HF_ENDPOINT)."""
        return self._hub.base_url

    def start(self) -> FakeHub:
        for server in (self._hub, self._cdn):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in (self._hub, self._cdn):
            server.shutdown()
            server.close_connections()  # kept-alive connections would otherwise go on answering
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Repos and knobs ---------------------------------------------------------------------------------------------

    def add_repo(
        self, repo_id: str, folder: Path, *, lfs_patterns: Iterable[str] = _LFS_PATTERNS, branch: str = "main"
    ) -> HubRepo:
        """Publish every file under `folder` as one commit of `repo_id`; files matching `lfs_patterns` are LFS."""
        patterns = tuple(lfs_patterns)
        files = {}
        for source in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = source.relative_to(folder).as_posix()
            data = source.read_bytes()
            files[rel] = HubFile(
                path=rel,
                source=source,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                lfs=any(fnmatch.fnmatch(rel, p) for p in patterns),
            )
        commit = secrets.token_hex(20)
        repo = HubRepo(repo_id=repo_id, commit=commit, files=files, refs={branch: commit})
        with self._lock:
            self._repos[repo_id] = repo
        return repo

    def throttle(self, bytes_per_s: float | None, repo_id: str | None = None, filename: str | None = None) -> None:
        """Serve one file (or, without a file, everything) at most this fast; None lifts the limit."""
        key = (repo_id, filename) if repo_id is not None and filename is not None else None
        with self._lock:
            if bytes_per_s is None:
                self._throttle.pop(key, None)
            else:
                self._throttle[key] = bytes_per_s

    def corrupt(self, repo_id: str, filename: str, on: bool = True) -> None:
        """Flip one byte in the middle of the file's served bytes (the listed size and hashes stay the true ones)."""
        with self._lock:
            (self._corrupt.add if on else self._corrupt.discard)((repo_id, filename))

    def fail_with(self, status: int | None) -> None:
        """Answer every hub request with this HTTP status (e.g. 503, a hub that is down); None restores service."""
        with self._lock:
            self._fail_status = status

    # Inspection --------------------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """Requests answered so far, in the order they finished (waits for those still being answered)."""
        self.wait_idle()
        with self._lock:
            return list(self._log)

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until no request is being answered. A cancelled download's response is only logged once the
        server notices the client has gone."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._in_flight == 0, timeout):
                raise TimeoutError("FakeHub still answering requests")

    def reset_log(self) -> None:
        """Forget the requests so far (after waiting for those still being answered)."""
        self.wait_idle()
        with self._lock:
            self._log.clear()

    def files_requested(self, repo_id: str) -> set[str]:
        """Files of `repo_id` named by any request (HEAD or GET, hub or CDN)."""
        return {r.filename for r in self.requests if r.repo_id == repo_id and r.filename}

    def files_downloaded(self, repo_id: str) -> set[str]:
        """Files of `repo_id` whose bytes were asked for (a GET that got a body)."""
        return {
            r.filename
            for r in self.requests
            if r.repo_id == repo_id and r.filename and r.method == "GET" and r.status in (200, 206)
        }

    def bytes_served(self, repo_id: str, filename: str) -> int:
        return sum(r.bytes_sent for r in self.requests if r.repo_id == repo_id and r.filename == filename)

    def downloads_of(self, repo_id: str, filename: str) -> list[Request]:
        """The GETs that carried bytes of one file."""
        return [
            r
            for r in self.requests
            if r.repo_id == repo_id and r.filename == filename and r.method == "GET" and r.status in (200, 206)
        ]

    # Request handling (called from the servers' threads) ---------------------------------------------------------

    def _handle(self, handler: _Handler, role: str) -> None:
        parts = urlsplit(handler.path)
        segments = [unquote(s) for s in parts.path.split("/")[1:]]  # split first: a rev may hold an encoded "/"
        query = parse_qs(parts.query)
        reply = _Reply(handler, role, parts.path, parts.query)
        with self._lock:
            self._in_flight += 1
        try:
            with self._lock:
                fail_status = self._fail_status
            if fail_status is not None and role == "hub":
                reply.error(fail_status, "Unavailable", "Service unavailable")
            elif role == "cdn":
                self._serve_cdn(reply, segments)
            elif segments[:2] == ["api", "models"] and len(segments) >= 4:
                self._serve_api(reply, segments[2:], query)
            elif len(segments) >= 5 and segments[2] == "resolve":
                self._serve_resolve(reply, segments)
            else:
                reply.error(404, "NotFound", "Not found")
        except (ConnectionError, TimeoutError):
            handler.close_connection = True
            reply.broken = True  # the client went away (a cancelled download); what was sent is logged
        finally:
            with self._idle:
                self._log.append(reply.record())
                self._in_flight -= 1
                self._idle.notify_all()

    def _repo(self, reply: _Reply, repo_id: str) -> HubRepo | None:
        reply.repo_id = repo_id
        with self._lock:
            repo = self._repos.get(repo_id)
        if repo is None:
            reply.error(404, "RepoNotFound", "Repository not found")
        return repo

    def _serve_api(self, reply: _Reply, rest: list[str], query: dict[str, list[str]]) -> None:
        repo = self._repo(reply, f"{rest[0]}/{rest[1]}")
        if repo is None:
            return
        kind = rest[2] if len(rest) > 2 else "revision"
        rev = rest[3] if len(rest) > 3 else "main"
        commit = repo.resolve(rev)
        if commit is None or kind not in ("revision", "tree"):
            reply.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            return
        if kind == "revision":
            reply.json(self._model_info(repo, blobs=query.get("blobs", ["false"])[0].lower() == "true"))
        else:
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            reply.json(self._tree(repo, "/".join(rest[4:]), recursive))

    @staticmethod
    def _model_info(repo: HubRepo, *, blobs: bool) -> dict[str, object]:
        siblings: list[dict[str, object]] = []
        for f in repo.files.values():
            entry: dict[str, object] = {"rfilename": f.path}
            if blobs:
                entry.update(size=f.size, blobId=f.oid)
                if f.lfs:
                    entry["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": len(f.pointer)}
            siblings.append(entry)
        return {
            "_id": repo.commit[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "sha": repo.commit,
            "private": False,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "lastModified": "2026-01-01T00:00:00.000Z",
            "createdAt": "2026-01-01T00:00:00.000Z",
            "siblings": siblings,
        }

    @staticmethod
    def _tree(repo: HubRepo, base: str, recursive: bool) -> list[dict[str, object]]:
        prefix = f"{base.strip('/')}/" if base.strip("/") else ""
        entries: dict[str, dict[str, object]] = {}
        for f in repo.files.values():
            if not f.path.startswith(prefix):
                continue
            rel_parts = f.path[len(prefix) :].split("/")
            # Folders on the way to the file, then the file itself (only direct children unless recursive).
            for depth in range(1, len(rel_parts)):
                folder = prefix + "/".join(rel_parts[:depth])
                entries.setdefault(
                    folder, {"type": "directory", "oid": git_blob_id(folder.encode()), "size": 0, "path": folder}
                )
                if not recursive:
                    break
            if recursive or len(rel_parts) == 1:
                entry: dict[str, object] = {"type": "file", "oid": f.oid, "size": f.size, "path": f.path}
                if f.lfs:
                    entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": len(f.pointer)}
                entries[f.path] = entry
        return list(entries.values())

    def _serve_resolve(self, reply: _Reply, segments: list[str]) -> None:
        repo = self._repo(reply, f"{segments[0]}/{segments[1]}")
        if repo is None:
            return
        filename = "/".join(segments[4:])
        reply.filename = filename
        commit = repo.resolve(segments[3])
        if commit is None:
            reply.error(404, "RevisionNotFound", f"Invalid rev id: {segments[3]}")
            return
        file = repo.files.get(filename)
        headers = {"X-Repo-Commit": commit}
        if file is None:
            reply.error(404, "EntryNotFound", f'{filename} does not exist on "{segments[3]}"', headers)
            return
        headers["ETag"] = f'"{file.oid}"'
        if file.lfs:
            headers["X-Linked-Etag"] = f'"{file.sha256}"'
            headers["X-Linked-Size"] = str(file.size)
            if self.lfs_redirect:
                cdn = f"{self._cdn.base_url}/cdn/{quote(repo.repo_id)}/{commit}/{quote(filename)}"
                reply.redirect(f"{cdn}?X-Amz-Signature={secrets.token_hex(8)}", headers)
                return
        self._send_file(reply, repo, file, headers)

    def _serve_cdn(self, reply: _Reply, segments: list[str]) -> None:
        # /cdn/{owner}/{name}/{commit}/{file...}
        if len(segments) < 5 or segments[0] != "cdn":
            reply.error(404, "NotFound", "Not found")
            return
        reply.repo_id = f"{segments[1]}/{segments[2]}"
        reply.filename = "/".join(segments[4:])
        with self._lock:
            repo = self._repos.get(reply.repo_id)
        file = repo.files.get(reply.filename) if repo is not None and repo.commit == segments[3] else None
        if repo is None or file is None:
            reply.error(404, "NotFound", "No such object")
            return
        self._send_file(reply, repo, file, {"ETag": f'"{file.sha256}"'})

    def _send_file(self, reply: _Reply, repo: HubRepo, file: HubFile, headers: dict[str, str]) -> None:
        start = 0
        range_header = reply.handler.headers.get("Range")
        status = 200
        if range_header:
            spec = range_header.strip().removeprefix("bytes=")
            first, _, last = spec.partition("-")
            start = int(first)
            end = int(last) + 1 if last else file.size
            if start >= file.size or end > file.size or start >= end:
                reply.send(416, {"Content-Range": f"bytes */{file.size}"}, b"")
                return
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{file.size}"
        else:
            end = file.size
        headers.update({"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"})
        with self._lock:
            rate = self._throttle.get((repo.repo_id, file.path), self._throttle.get(None))
            corrupt = (repo.repo_id, file.path) in self._corrupt
        reply.send_stream(status, headers, file.source, start, end, rate, file.size // 2 if corrupt else None)


class _Reply:
    """Writes one response and remembers what was sent, for the log."""

    def __init__(self, handler: _Handler, role: str, path: str, query: str) -> None:
        self.handler = handler
        self.role = role
        self.path = path
        self.query = query
        self.status = 0
        self.bytes_sent = 0
        self.broken = False
        self.repo_id: str | None = None
        self.filename: str | None = None

    def record(self) -> Request:
        return Request(
            server=self.role,
            method=self.handler.command,
            path=self.path,
            query=self.query,
            headers={k.lower(): v for k, v in self.handler.headers.items()},
            status=self.status,
            bytes_sent=self.bytes_sent,
            repo_id=self.repo_id,
            filename=self.filename,
        )

    def _head(self, status: int, headers: dict[str, str], length: int) -> None:
        self.status = status
        self.handler.send_response(status)
        for key, value in headers.items():
            self.handler.send_header(key, value)
        self.handler.send_header("Content-Length", str(length))
        self.handler.end_headers()

    def send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self._head(status, headers, len(body))
        if self.handler.command != "HEAD" and body:
            self.handler.wfile.write(body)
            self.bytes_sent += len(body)

    def json(self, payload: object) -> None:
        self.send(200, {"Content-Type": "application/json"}, json.dumps(payload).encode())

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        extra = {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"}
        self.send(status, {**(headers or {}), **extra}, body)

    def redirect(self, location: str, headers: dict[str, str]) -> None:
        self.send(302, {**headers, "Location": location}, b"")

    def send_stream(
        self,
        status: int,
        headers: dict[str, str],
        source: Path,
        start: int,
        end: int,
        rate: float | None,
        corrupt_at: int | None,
    ) -> None:
        self._head(status, headers, end - start)
        if self.handler.command == "HEAD":
            return
        began = time.monotonic()
        with open(source, "rb") as f:
            f.seek(start)
            pos = start
            while pos < end:
                chunk = bytearray(f.read(min(_CHUNK, end - pos)))
                if corrupt_at is not None and pos <= corrupt_at < pos + len(chunk):
                    chunk[corrupt_at - pos] ^= 0xFF
                self.handler.wfile.write(chunk)
                self.bytes_sent += len(chunk)
                pos += len(chunk)
                if rate:
                    # Sleep until the bytes sent so far match the rate (the test server may sleep; the library not).
                    ahead = self.bytes_sent / rate - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the hub: the client reuses its connections
    timeout = 10  # an idle kept-alive connection ends after this
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.hub._handle(self, self.server.role)

    def do_HEAD(self) -> None:  # noqa: N802
        self.server.hub._handle(self, self.server.role)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # the request log is FakeHub.requests


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hub: FakeHub, role: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hub = hub
        self.role = role
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def free_port_without_server() -> str:
    """An endpoint on 127.0.0.1 where nothing listens: connecting to it is refused at once (an unreachable hub)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
