"""toolwire's built-in policies, each a plugin of the `toolwire_dispatch` hook registered exactly as a
third party's would be, so each holds on every backend:

- `approval`: calls of tools that need approval wait for `ToolRegistry(approve=...)` or for
  `execute_tool_calls(..., approvals={call_id: ...})`; without an answer they are `approval_pending`.
- `ordering`: `[policy] ordering` ("annotated": read-only calls in parallel, the others in the model's
  order, each after the read-only calls emitted before it; "parallel"; "sequential").
- `limits`: `max_concurrency` and `rate` of the `[[policy.tools]]` tables, shared by every batch.
- `retries`: `retries = N` for read-only or idempotent tools, on `transport`, `timeout` and `crashed`.
- `questions`: what tools ask their user (`input_required`) goes to `ToolRegistry(answer=...)`, and the calls it
  answers run again with the answers.

Result caps (`max_result_chars`) apply where results are made, for every call.
"""
