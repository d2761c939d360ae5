"""One callable -> one `Tool`: its JSON Schema, description, validator and invoker."""

from __future__ import annotations

import functools
import inspect
import types
import warnings
from collections import abc
from collections.abc import Callable
from typing import Annotated, Any, Union, get_args, get_origin

import pydantic
from pydantic.fields import FieldInfo
from pydantic.json_schema import PydanticJsonSchemaWarning
from toolwire import Annotations, Tool, ToolSource, is_async_callable

from toolwire_native._docstrings import read_docs
from toolwire_native._invoker import AsyncFunctionInvoker, AsyncGeneratorInvoker, FunctionInvoker, GeneratorInvoker
from toolwire_native._schema import SchemaGenerator, clean_schema, compatible, output_schema
from toolwire_native._validator import ArgumentValidator

_P = inspect.Parameter
_GENERATORS = (abc.Iterator, abc.Iterable, abc.Generator, abc.AsyncIterator, abc.AsyncIterable, abc.AsyncGenerator)
_SCHEMA_ERRORS = (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError, NameError,
                  RecursionError)
_SELF_REFERENCE = ("its type refers to itself through a plain alias (such as Node = dict[str, 'Node']), which "
                   "pydantic cannot follow; declare it as typing_extensions.TypeAliasType('Node', dict[str, 'Node'])")


def build_tool(
    function: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    annotations: Annotations | None = None,
) -> Tool:
    """The tool for `function` (a function, method, builtin or `functools.partial`).

    Parameters whose type has no JSON Schema are hidden from the model when they have a default; a
    required one, or a signature that cannot be read, raises `TypeError`.
    """
    label = qualified_name(function)
    try:
        signature = inspect.signature(function, eval_str=True)
    except (ValueError, TypeError, NameError, SyntaxError) as exc:
        raise TypeError(f"cannot read the signature of {label}: {exc}") from None
    docs = read_docs(function.func if isinstance(function, functools.partial) else function)
    try:
        parameters, validator = _parameters(function, signature, docs.params)
    except _SCHEMA_ERRORS as exc:
        raise TypeError(f"cannot make a tool of {label}: {_first_line(exc)}") from None
    yields = _yields(function)
    returns = output_schema(_collected(signature.return_annotation) if yields else signature.return_annotation)
    if returns is not None and docs.returns and "description" not in returns:
        returns = {**returns, "description": docs.returns}
    invoker: Callable[..., Any]
    if yields is not None:
        invoker = yields(function, tuple(validator.positional), validator.var_positional)
    elif is_async_callable(function):
        invoker = AsyncFunctionInvoker(function, tuple(validator.positional), validator.var_positional)
    elif validator.positional or validator.var_positional is not None:
        invoker = FunctionInvoker(function, tuple(validator.positional), validator.var_positional)
    else:
        invoker = function  # takes the validated keywords as they are: nothing to wrap
    return Tool(
        name=name or short_name(function),
        description=docs.description if description is None else description,
        parameters=parameters,
        invoker=invoker,
        annotations=annotations or Annotations(),
        source=ToolSource("native", label),
        output_schema=returns,
        validator=validator,
    )


def _yields(function: Callable[..., Any]) -> type[GeneratorInvoker | AsyncGeneratorInvoker] | None:
    """The invoker that collects what `function` yields, when it is a (sync or async) generator function, a
    method or a partial of one."""
    if inspect.isasyncgenfunction(function):
        return AsyncGeneratorInvoker
    if inspect.isgeneratorfunction(function):
        return GeneratorInvoker
    return None


def _collected(annotation: Any) -> Any:
    """The list a generator function's annotation (`Iterator[T]`, `Generator[T, ...]`, their async forms)
    describes once collected: `list[T]`, or no annotation."""
    args = get_args(annotation)
    if get_origin(annotation) in _GENERATORS and args:
        return list[args[0]]  # type: ignore[valid-type]
    return inspect.Signature.empty


def short_name(function: Callable[..., Any]) -> str:
    """The function's own name (a partial's underlying function's)."""
    target = function.func if isinstance(function, functools.partial) else function
    return getattr(target, "__name__", None) or type(target).__name__


def qualified_name(function: Callable[..., Any]) -> str:
    """`module.qualname` of the function (or of a partial's underlying function)."""
    target = function.func if isinstance(function, functools.partial) else function
    qualname = getattr(target, "__qualname__", None) or short_name(target)
    module = getattr(target, "__module__", None)
    return f"{module}.{qualname}" if module else qualname


def _parameters(
    function: Callable[..., Any], signature: inspect.Signature, described: dict[str, str]
) -> tuple[dict[str, Any], ArgumentValidator]:
    """The parameters' JSON Schema and their validator, leaving out optional parameters whose type has
    no JSON Schema; a required one raises `TypeError` naming it."""
    try:
        return _schema_and_validator(function, signature, described, frozenset())
    except _SCHEMA_ERRORS as exc:
        unrepresentable = _unrepresentable(signature)
        required = [name for name in unrepresentable if signature.parameters[name].default is _P.empty]
        if required:
            why = _first_line(exc) if isinstance(exc, RecursionError) else unrepresentable[required[0]]
            raise TypeError(f"parameter '{required[0]}': {why}") from None
        if not unrepresentable:
            raise
    return _schema_and_validator(function, signature, described, frozenset(unrepresentable))


def _schema_and_validator(
    function: Callable[..., Any],
    signature: inspect.Signature,
    described: dict[str, str],
    hidden: frozenset[str],
) -> tuple[dict[str, Any], ArgumentValidator]:
    validator = _validator(function, signature, described, hidden)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
        schema = clean_schema(validator.model.model_json_schema(by_alias=True, schema_generator=SchemaGenerator))
    schema.pop("description", None)
    schema.setdefault("properties", {})
    if schema.get("additionalProperties") == {}:
        schema["additionalProperties"] = True
    return schema, validator


def _unrepresentable(signature: inspect.Signature) -> dict[str, str]:
    """Parameter name -> why its annotation has no JSON Schema, for each such parameter."""
    found = {}
    for param in signature.parameters.values():
        if param.annotation is _P.empty:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
                pydantic.TypeAdapter(compatible(param.annotation)).json_schema()
        except _SCHEMA_ERRORS as exc:
            found[param.name] = _first_line(exc)
    return found


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return _SELF_REFERENCE
    return str(exc).split("\n", 1)[0]


def _validator(
    function: Callable[..., Any],
    signature: inspect.Signature,
    described: dict[str, str],
    hidden: frozenset[str],
) -> ArgumentValidator:
    """The validator of a pydantic model of the parameters: fields named as the parameters, except names
    pydantic cannot take (`_private`, `model_...`, `BaseModel`'s attributes), which become `p0`, `p1`...
    aliased to the parameter names."""
    params = list(signature.parameters.values())
    has_var_positional = any(p.kind is _P.VAR_POSITIONAL for p in params)
    hints: dict[str, Any] = {}
    namespace: dict[str, Any] = {}
    fields: dict[str, str] = {}
    positional: dict[str, Any] = {}
    unions: set[str] = set()
    optional: set[str] = set()
    extra: Any = None
    for index, param in enumerate(params):
        annotation = Any if param.annotation is _P.empty else compatible(param.annotation)
        if param.kind is _P.VAR_KEYWORD:
            extra = annotation
            continue
        passed_positionally = param.kind is _P.POSITIONAL_ONLY or (
            has_var_positional and param.kind is _P.POSITIONAL_OR_KEYWORD
        )
        if passed_positionally:
            positional[param.name] = param.default
        if param.name in hidden:
            continue
        default: Any
        if param.kind is _P.VAR_POSITIONAL:
            annotation, default = list[annotation], []  # type: ignore[valid-type]
        else:
            default = ... if param.default is _P.empty else param.default
        if default is not ...:
            optional.add(param.name)
        if _is_union(annotation):
            unions.add(param.name)
        text = None if _has_description(annotation) else described.get(param.name)
        attr = param.name if _safe_field_name(param.name) else f"p{index}"
        hints[attr] = annotation
        extras: dict[str, Any] = {"description": text} if text else {}  # None would hide an Annotated Field's
        namespace[attr] = pydantic.Field(default, alias=param.name, **extras)
        fields[param.name] = attr
    if extra is not None:
        hints["__pydantic_extra__"] = dict[str, extra]
    namespace["__annotations__"] = hints
    namespace["__module__"] = getattr(function, "__module__", None) or __name__
    namespace["model_config"] = pydantic.ConfigDict(extra="forbid" if extra is None else "allow")
    model = types.new_class(
        f"{short_name(function)}_arguments", (pydantic.BaseModel,), exec_body=lambda ns: ns.update(namespace)
    )
    var_positional = next((p.name for p in params if p.kind is _P.VAR_POSITIONAL), None)
    return ArgumentValidator(
        model,
        fields,
        positional=positional,
        var_positional=var_positional,
        optional=frozenset(optional),
        unions=frozenset(unions),
    )


def _safe_field_name(name: str) -> bool:
    return not name.startswith(("_", "model_")) and not hasattr(pydantic.BaseModel, name)


def _is_union(annotation: Any) -> bool:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) not in (Union, types.UnionType):
        return False
    return sum(arg is not type(None) for arg in get_args(annotation)) > 1


def _has_description(annotation: Any) -> bool:
    if get_origin(annotation) is not Annotated:
        return False
    return any(isinstance(meta, FieldInfo) and meta.description for meta in annotation.__metadata__)
