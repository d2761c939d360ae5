"""The `approval` policy: calls of tools that need approval run only once approved.

A tool needs approval when a `[[policy.tools]]` table (by name glob, tag, namespace, source or an
annotation such as `destructive = true`) or `register(..., requires_approval=True)` says so. The calls of
a batch that need it go together to `ToolRegistry(approve=...)`, which answers per call id: True runs it,
False or a reason denies it (`denied`, the reason is what the model reads), a dict runs it with those
arguments (validated again). Answers given with `execute_tool_calls(..., approvals={...})` come first.
A call with no answer does not run: its result is `approval_pending`, and the caller resumes later with
`approvals=`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from toolwire.batches import Dispatch
from toolwire.hookspecs import hookimpl
from toolwire.policies._book import groups
from toolwire.policies._callbacks import called
from toolwire.tools import ErrorKind, ToolCall

__all__ = ["toolwire_dispatch"]

log = logging.getLogger("toolwire")
_NO_ANSWER = object()


@hookimpl(wrapper=True, tryfirst=True)
def toolwire_dispatch(dispatch: Dispatch) -> Any:
    if dispatch.registry.policy.tools:
        needed = [indices for settings, indices in groups(dispatch) if settings.requires_approval]
        if needed:
            _decide(dispatch, needed[0] if len(needed) == 1 else sorted(itertools.chain(*needed)))
    return (yield)


def _decide(dispatch: Dispatch, needed: Sequence[int]) -> None:
    given = dispatch.approvals
    calls = dispatch.calls
    needing = list(calls) if len(needed) == len(calls) else [calls[i] for i in needed]
    asked = [call for call in needing if call.id not in given] if given else needing
    answers: Mapping[str, Any] = {}
    failure = None
    approve = dispatch.registry.approve
    if asked and approve is not None:
        try:
            answers = called(approve, asked)
        except Exception as exc:
            log.exception("the approval callback failed")
            failure = f"{type(exc).__name__}: {exc}"
    if type(answers) is not dict and not isinstance(answers, Mapping):  # a dict first: no ABC machinery
        failure = failure or f"the callback returned {type(answers).__name__}, not a mapping of call ids to answers"
        log.warning("the approval callback returned %s, not a mapping of call ids to answers; the calls stay pending",
                    type(answers).__name__)
        answers = {}
    if given:
        answers = {**answers, **given}
    if not [call for call in needing if answers.get(call.id) is not True]:
        return  # every call approved as it is (the common case: answers by call id)
    if any(isinstance(key, ToolCall) for key in answers):  # keyed by the calls themselves
        answers = {key.id if isinstance(key, ToolCall) else key: answer for key, answer in answers.items()}
        if given:
            answers.update(given)
    for index, call in zip(needed, needing, strict=True):
        _apply(dispatch, index, call, answers.get(call.id, _NO_ANSWER), failure)


def _apply(dispatch: Dispatch, index: int, call: ToolCall, answer: Any, failure: str | None) -> None:
    name = call.name
    if answer is True:
        return
    if answer is _NO_ANSWER:
        why = f" (asking for approval failed: {failure})" if failure else ""
        dispatch.refuse(index, ErrorKind.APPROVAL_PENDING,
                        f"'{name}' needs the user's approval before it runs and has not run yet{why}; "
                        "it will run once approved")
    elif answer is False or answer is None or (isinstance(answer, str) and not answer.strip()):  # no reason given
        dispatch.refuse(index, ErrorKind.DENIED,
                        f"the user did not approve this call of '{name}', so it did not run; do not repeat it "
                        "unchanged: ask the user, or do something else")
    elif isinstance(answer, str):
        dispatch.refuse(index, ErrorKind.DENIED,
                        f"the user did not approve this call of '{name}', so it did not run: {answer}")
    elif isinstance(answer, Mapping):
        dispatch.revalidate(index, answer)
    else:
        dispatch.refuse(index, ErrorKind.APPROVAL_PENDING,
                        f"'{name}' needs the user's approval and the answer given ({type(answer).__name__}) "
                        "is none of True, False, a reason or edited arguments; it has not run")
