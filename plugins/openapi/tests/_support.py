"""What the tests (and bench_quick.py) use: a FastAPI service and an echo server to run on 127.0.0.1, and
a minimal executor."""

from __future__ import annotations

import asyncio
import base64
import secrets
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from fastapi import (
    Body,
    Cookie,
    Depends,
    FastAPI,
    File,
    Form,
    Header,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
)
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import (
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    OAuth2,
)
from pydantic import BaseModel
from starlette.responses import JSONResponse
from toolwire import Executor, Job, Outcome, call_invoker, call_invoker_async

SPECS = Path(__file__).resolve().parents[3].parent / "shared" / "specs"
"""The shared real-world specs: beside the repository (its parent holds `shared/`)."""

TOKEN = "s3cr3t-bearer-token"
API_KEY = "k3y-0f-the-api"
BASIC = ("ada", "l0vel4ce")
CLIENT = ("toolwire-client", "cl13nt-s3cr3t")
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

service = FastAPI(title="toolwire test service", version="1.0")


# -- the calculator -------------------------------------------------------------------------------

@service.get("/calculator/add", operation_id="add", tags=["calculator"])
def add(a: float, b: float) -> dict[str, float]:
    """Add two numbers."""
    return {"result": a + b}


@service.get("/calculator/multiply", operation_id="multiply", tags=["calculator"])
def multiply(a: float, b: float) -> dict[str, float]:
    """Multiply two numbers."""
    return {"result": a * b}


@service.get("/calculator/divide", operation_id="divide", tags=["calculator"])
def divide(a: float, b: float) -> dict[str, float]:
    """Divide a by b."""
    if b == 0:
        raise HTTPException(400, "division by zero")
    return {"result": a / b}


# -- a resource with every kind of parameter ------------------------------------------------------

class Item(BaseModel):
    item_id: str
    name: str
    price: float
    tags: list[str] = []


class ItemPatch(BaseModel):
    name: str | None = None
    price: float | None = None


@service.post("/items/{item_id}", operation_id="items.create", tags=["items"])
def create_item(
    item_id: str,
    item: Item,
    tag: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI's way of declaring an array query
    x_request_id: Annotated[str | None, Header()] = None,
    session: Annotated[str | None, Cookie()] = None,
) -> dict[str, Any]:
    """Create an item; echoes where each argument arrived."""
    return {"path": item_id, "body": item.model_dump(), "tag": tag, "header": x_request_id, "cookie": session}


@service.get("/items/{item_id}", operation_id="items.get", tags=["items"])
def get_item(item_id: str, fields: Annotated[list[str], Query()] = []) -> dict[str, Any]:  # noqa: B006
    """Get an item."""
    return {"item_id": item_id, "fields": fields}


@service.patch("/items/{item_id}", operation_id="items/patch", tags=["items"])
def patch_item(item_id: str, patch: ItemPatch) -> dict[str, Any]:
    """Change some of an item's fields."""
    return {"item_id": item_id, "changed": patch.model_dump(exclude_unset=True)}


@service.delete("/items/{item_id}", operation_id="items delete", tags=["items"], status_code=204)
def delete_item(item_id: str) -> Response:
    """Delete an item."""
    return Response(status_code=204)


@service.put("/items/{item_id}/form", operation_id="items_form", tags=["items"])
def form_item(item_id: str, name: Annotated[str, Form()], quantity: Annotated[int, Form()]) -> dict[str, Any]:
    """Update an item from a form."""
    return {"item_id": item_id, "name": name, "quantity": quantity}


@service.post("/items/{item_id}/upload", operation_id="items_upload", tags=["items"])
async def upload(item_id: str, file: Annotated[UploadFile, File()], note: Annotated[str, Form()]) -> dict[str, Any]:
    """Attach a file to an item."""
    content = await file.read()
    return {"item_id": item_id, "filename": file.filename, "content": content.decode(), "note": note}


@service.post("/notes", operation_id="notes_create", tags=["items"])
def create_note(text: Annotated[list[str], Body()]) -> dict[str, Any]:
    """A JSON body that is not an object: a list of lines."""
    return {"lines": len(text)}


@service.head("/ping", operation_id="ping")
def ping() -> Response:
    return Response(headers={"X-Pong": "yes"})


@service.options("/ping", operation_id="ping_options")
def ping_options() -> Response:
    return Response(headers={"Allow": "HEAD, OPTIONS"})


# -- responses of every kind ----------------------------------------------------------------------

@service.get("/status/{code}", operation_id="status")
def status(code: int) -> Response:
    """Answer with the given status code."""
    return Response(f'{{"detail": "status {code} as asked"}}', status_code=code, media_type="application/json")


_unavailable: dict[str, int] = {}


@service.get("/flaky/{key}", operation_id="flaky")
def flaky(key: str, failures: int, retry_after: str | None = None) -> Response:
    """Answer 503 Service Unavailable to the first `failures` requests for `key` (with `Retry-After: retry_after`
    when given), then 200."""
    _unavailable[key] = seen = _unavailable.get(key, 0) + 1
    if seen <= failures:
        headers = {"retry-after": retry_after} if retry_after is not None else None
        return Response('{"detail": "busy"}', status_code=503, media_type="application/json", headers=headers)
    return Response(f'{{"key": "{key}", "attempt": {seen}}}', media_type="application/json")


@service.get("/slow", operation_id="slow")
async def slow(seconds: float) -> dict[str, float]:
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@service.get("/image", operation_id="image", responses={200: {"content": {"image/png": {}}}})
def image() -> Response:
    return Response(PNG, media_type="image/png")


@service.get("/text", operation_id="text")
def text() -> Response:
    return Response("plain words", media_type="text/plain")


@service.get("/blob", operation_id="blob")
def blob(size: int = 16) -> Response:
    return Response(bytes(range(256)) * (size // 256) + bytes(size % 256), media_type="application/octet-stream")


# -- authentication -------------------------------------------------------------------------------

bearer = HTTPBearer(auto_error=False)
basic = HTTPBasic(auto_error=False)
key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
key_query = APIKeyQuery(name="api_key", auto_error=False)
key_cookie = APIKeyCookie(name="key", auto_error=False)
oauth = OAuth2(flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl="/token", scopes={})),
               scheme_name="oauth", auto_error=False)
issued: set[str] = set()


def _refuse() -> HTTPException:
    return HTTPException(401, "not authenticated")


@service.get("/secure/bearer", operation_id="secure_bearer", tags=["secure"])
def secure_bearer(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> dict[str, bool]:
    if creds is None or creds.credentials != TOKEN:
        raise _refuse()
    return {"ok": True}


@service.get("/secure/basic", operation_id="secure_basic", tags=["secure"])
def secure_basic(creds: Annotated[HTTPBasicCredentials | None, Depends(basic)]) -> dict[str, bool]:
    if creds is None or (creds.username, creds.password) != BASIC:
        raise _refuse()
    return {"ok": True}


@service.get("/secure/key-header", operation_id="secure_key_header", tags=["secure"])
def secure_key_header(key: Annotated[str | None, Depends(key_header)]) -> dict[str, bool]:
    if key != API_KEY:
        raise _refuse()
    return {"ok": True}


@service.get("/secure/key-query", operation_id="secure_key_query", tags=["secure"])
def secure_key_query(key: Annotated[str | None, Depends(key_query)]) -> dict[str, bool]:
    if key != API_KEY:
        raise _refuse()
    return {"ok": True}


@service.get("/secure/key-cookie", operation_id="secure_key_cookie", tags=["secure"])
def secure_key_cookie(key: Annotated[str | None, Depends(key_cookie)]) -> dict[str, bool]:
    if key != API_KEY:
        raise _refuse()
    return {"ok": True}


@service.get("/secure/oauth", operation_id="secure_oauth", tags=["secure"])
def secure_oauth(authorization: Annotated[str | None, Depends(oauth)]) -> dict[str, bool]:
    if authorization is None or authorization.removeprefix("Bearer ") not in issued:
        raise _refuse()
    return {"ok": True}


@service.post("/token", include_in_schema=False)
def token(grant_type: Annotated[str, Form()], creds: Annotated[HTTPBasicCredentials | None, Depends(basic)]
          ) -> dict[str, Any]:
    if grant_type != "client_credentials" or creds is None or (creds.username, creds.password) != CLIENT:
        raise HTTPException(401, "bad client")
    value = secrets.token_hex(8)
    issued.add(value)
    return {"access_token": value, "token_type": "bearer", "expires_in": 600}


# -- the echo server ------------------------------------------------------------------------------

async def _echo(request: Request) -> JSONResponse:
    """The request as it arrived; a request with an `X-Set-Cookie` header gets its value back as `Set-Cookie`."""
    body = await request.body()
    cookie = request.headers.get("x-set-cookie")
    return JSONResponse({
        "method": request.method,
        "raw_path": request.scope["raw_path"].decode(),
        "query": request.scope["query_string"].decode(),
        "headers": {k.decode().lower(): v.decode() for k, v in request.scope["headers"]},
        "body": body.decode(errors="replace"),
    }, headers={"Set-Cookie": cookie} if cookie else None)


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers every HTTP request, whatever its method and path (a route's pattern does not match a path holding
    a line break)."""
    if scope["type"] == "http":
        await (await _echo(Request(scope, receive)))(scope, receive, send)


# -- running one ----------------------------------------------------------------------------------

class Served:
    """An ASGI app served by uvicorn on 127.0.0.1 in a background thread, until `stop()`."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            threading.Event().wait(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()


class LoopExecutor(Executor):
    """A minimal backend for these tests: a batch's jobs gathered on one long-lived loop, sync ones each in a
    thread of the loop's default pool."""

    name = "loop"

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        async def batch() -> list[Outcome]:
            return list(await asyncio.gather(*(
                call_invoker_async(job) if job.tool.is_async else asyncio.to_thread(call_invoker, job) for job in jobs
            )))

        return asyncio.run_coroutine_threadsafe(batch(), self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class RawServer:
    """A socket server on 127.0.0.1 for what no HTTP framework does on cue (half a body, a reset, a connection
    closed as a request arrives): `answer(conn)` runs in a thread of its own for each connection accepted."""

    scheme = "http"

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"{self.scheme}://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.sock.close()
