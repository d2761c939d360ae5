"""A calculator HTTP service (FastAPI): GET /add, /subtract, /multiply, /divide with query `a` and `b`.

Each answers `{"result": x}`; dividing by zero is HTTP 400. Run it with
`python -m toolwire_bench.calculator_app --port 8000`, or use `toolwire_bench.servers.calculator_service`.
"""

from __future__ import annotations

import argparse

from fastapi import FastAPI, HTTPException

__all__ = ["app"]

app = FastAPI(
    title="Calculator",
    description="Addition, subtraction, multiplication and division.",
    version="1.0.0",
)


@app.get("/add", operation_id="add", summary="Add two numbers")
def add(a: float, b: float) -> dict[str, float]:
    """Calculate a + b."""
    return {"result": a + b}


@app.get("/subtract", operation_id="subtract", summary="Subtract b from a")
def subtract(a: float, b: float) -> dict[str, float]:
    """Calculate a - b."""
    return {"result": a - b}


@app.get("/multiply", operation_id="multiply", summary="Multiply two numbers")
def multiply(a: float, b: float) -> dict[str, float]:
    """Calculate a * b."""
    return {"result": a * b}


@app.get("/divide", operation_id="divide", summary="Divide a by b")
def divide(a: float, b: float) -> dict[str, float]:
    """Calculate a / b; b must not be zero."""
    if b == 0:
        raise HTTPException(status_code=400, detail="division by zero")
    return {"result": a / b}


if __name__ == "__main__":
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
