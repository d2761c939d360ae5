"""The native validator: the model's arguments, checked and coerced by pydantic, as keyword arguments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pydantic

_MAX_SHOWN = 80


class ArgumentValidator:
    """Validates a call's arguments (pydantic lax mode: "1" -> 1, dicts -> models) into keywords.

    Raises `ValueError` naming each bad argument and what to fix. Runs in the calling process only.
    """

    def __init__(
        self,
        model: type[pydantic.BaseModel],
        fields: Mapping[str, str],
        *,
        positional: Mapping[str, Any] | None = None,
        var_positional: str | None = None,
        optional: frozenset[str] = frozenset(),
        unions: frozenset[str] = frozenset(),
    ) -> None:
        self.model = model
        self.fields = dict(fields)  # argument name -> model attribute
        self.positional = dict(positional or {})  # positionally passed name -> its default
        self.var_positional = var_positional
        self.optional = optional  # names of the arguments that have a default
        self.unions = unions
        self._text_validator: Any = None
        """Validates argument text straight into the keywords (built on first use; False when it cannot be)."""

    def __call__(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        if type(arguments) is dict:
            data = arguments  # pydantic does not change what it validates
        elif isinstance(arguments, Mapping):
            data = dict(arguments)
        else:
            raise ValueError(f"the arguments must be a JSON object, got {_shown(arguments)}")
        try:
            validated = self.model.model_validate(data)
        except pydantic.ValidationError as exc:
            nulls = self._refused_nulls(data, exc)
            if not nulls:
                raise ValueError(self._explain(exc)) from None
            try:  # null for an optional parameter that cannot be None means "use the default"
                validated = self.model.model_validate({k: v for k, v in data.items() if k not in nulls})
            except pydantic.ValidationError as retry:
                raise ValueError(self._explain(retry)) from None
        return self._keywords(validated)

    def validate_json(self, text: str | bytes) -> dict[str, Any]:
        """`self(json.loads(text))`, with pydantic reading the text itself: for a plain signature (no
        positional-only parameters, no `*args`, no `**kwargs`), into a dict of the arguments given, as a
        `TypedDict` of the same fields would; else into the model.

        Raises `ValueError` on any problem (pydantic's `ValidationError` is one); the caller then takes the
        precise path for the message. Once built, the `TypedDict` validator replaces this method on the
        instance, so that later calls cost pydantic-core's alone.
        """
        validator = self._text_validator
        if validator is None:
            validator = self._text_validator = self._typed_dict_validator()
            if validator is not False:
                self.validate_json = validator  # type: ignore[method-assign]  # later calls: pydantic-core only
        try:
            if validator is not False:
                return validator(text)
            validated = self.model.__pydantic_validator__.validate_json(text)
        except pydantic.ValidationError as exc:
            raise ValueError(str(exc)) from None
        return self._keywords(validated)

    def _typed_dict_validator(self) -> Any:
        """`validate_json` of a `TypedDict` with the model's fields under the arguments' names, or False
        when the signature needs the model (positional parameters, `*args`, `**kwargs`, discriminators)."""
        if self.positional or self.var_positional or self.model.model_config.get("extra") == "allow":
            return False
        from typing import Annotated, NotRequired

        from typing_extensions import TypedDict

        fields: dict[str, Any] = {}
        for name, attr in self.fields.items():
            info = self.model.model_fields[attr]
            if info.discriminator is not None:
                return False
            kind = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
            fields[name] = kind if info.is_required() else NotRequired[kind]
        arguments = TypedDict(f"{self.model.__name__}_text", fields)  # type: ignore[misc]  # built at run time
        arguments.__pydantic_config__ = pydantic.ConfigDict(extra="forbid")  # type: ignore[attr-defined]
        try:
            return pydantic.TypeAdapter(arguments).validator.validate_json
        except Exception:  # a type pydantic takes in a model but not here: the model path serves
            return False

    def _keywords(self, validated: pydantic.BaseModel) -> dict[str, Any]:
        values, given = validated.__dict__, validated.__pydantic_fields_set__
        kwargs = {name: values[attr] for name, attr in self.fields.items() if attr in given}
        if validated.__pydantic_extra__:
            kwargs.update(validated.__pydantic_extra__)
        if self.positional:
            self._fill_positional_gaps(kwargs)
        return kwargs

    def _refused_nulls(self, data: Mapping[str, Any], exc: pydantic.ValidationError) -> set[str]:
        """Arguments with a default that were given as null and refused it."""
        return {
            name
            for error in exc.errors(include_url=False)
            if error["loc"] and (name := error["loc"][0]) in self.optional
            and data.get(name, ...) is None and error["input"] is None
        }

    def _fill_positional_gaps(self, kwargs: dict[str, Any]) -> None:
        """Give defaults to positional parameters the model left out before one it passed."""
        names = list(self.positional)
        if self.var_positional is not None and kwargs.get(self.var_positional):
            last = len(names)
        else:
            last = max((index + 1 for index, name in enumerate(names) if name in kwargs), default=0)
        for name in names[:last]:
            kwargs.setdefault(name, self.positional[name])

    def _explain(self, exc: pydantic.ValidationError) -> str:
        problems: list[str] = []
        union_errors: dict[str, list[Mapping[str, Any]]] = {}
        for error in exc.errors(include_url=False):
            loc = error["loc"]
            if loc and loc[0] in self.unions and len(loc) > 1:
                union_errors.setdefault(str(loc[0]), []).append(error)
            else:
                problems.append(self._problem(error))
        for name, errors in union_errors.items():
            reasons = "; ".join(
                dict.fromkeys(f"{_path(e['loc'][2:])}{_lower(e['msg'])}" for e in errors)
            )
            problems.append(
                f"argument '{name}' matches none of its accepted types"
                f" (got {_shown(errors[0]['input'])}): {reasons}"
            )
        return "; ".join(dict.fromkeys(problems))

    def _problem(self, error: Mapping[str, Any]) -> str:
        loc: tuple[Any, ...] = tuple(error["loc"])
        kind = error["type"]
        if kind == "missing":
            if len(loc) == 1:
                return f"missing required argument '{loc[0]}'"
            return f"argument '{loc[0]}' is missing its required field '{_dotted(loc[1:])}'"
        if kind == "extra_forbidden":
            if len(loc) == 1:
                accepted = ", ".join(f"'{name}'" for name in self.fields) or "none"
                return f"unexpected argument '{loc[0]}' (accepted arguments: {accepted})"
            return f"argument '{loc[0]}' has an unexpected field '{_dotted(loc[1:])}'"
        where = f"argument '{_dotted(loc)}'" if loc else "the arguments"
        message = error["msg"]
        if message.startswith("Input should"):
            text = f"{where} {message[len('Input '):]}"
        else:
            text = f"{where}: {_lower(message)}"
        return f"{text}, got {_shown(error['input'])}"


def _dotted(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _path(loc: Sequence[Any]) -> str:
    return f"'{_dotted(loc)}' " if loc else ""


def _lower(message: str) -> str:
    return message[:1].lower() + message[1:]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."
