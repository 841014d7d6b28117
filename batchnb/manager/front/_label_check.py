"""A label checked before anything is written: its verdict, its field (a field of the response model, a dotted
path into a sub-model, or ``None`` for the whole answer) and the right value typed for a wrong answer,
validated against that field's type and kept as JSON data: no NaN or infinity, which a float field takes but
JSON has not (the state's files and the review's widget are JSON). A bad one is an ``InputError`` naming the
row and the field."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pydantic

from ...errors import InputError


def checked_verdict(correct: Any, value: Any, where: str) -> bool:
    """``correct``: ``True`` or ``False``; ``None`` with a ``value`` means wrong (a correction)."""
    if correct is None and value is not None:
        return False
    if not isinstance(correct, bool):
        raise InputError(
            f"label({where}): correct= must be True or False (or give value=, the right value, for a wrong "
            f"answer), got {correct!r}."
        )
    if correct and value is not None:
        raise InputError(f"label({where}): value= is the right value of a wrong answer; with correct=True give none.")
    return correct


def checked_value(model: type[pydantic.BaseModel] | None, field: Any, value: Any, where: str) -> tuple[str | None, Any]:
    """``(field, value as JSON data)``: the field checked against ``model`` (``None`` for text answers), the
    value (when given) validated against the field's type (the whole model, or a string for a text answer)."""
    if model is None:
        if field is not None:
            raise InputError(
                f"label({where}): field={field!r}, but the answers are text (no response_model): "
                "label the whole answer (field=None)."
            )
        if value is not None and not isinstance(value, str):
            raise InputError(f"label({where}): the right value of a text answer is a string, got {value!r}.")
        return None, value
    if field is None:
        if value is None:
            return None, None
        try:
            instance = model.model_validate_json(value) if isinstance(value, str) else model.model_validate(value)
        except pydantic.ValidationError as exc:
            raise InputError(
                f"label({where}): the right answer is not a valid {model.__name__}: {_first(exc)}"
            ) from None
        return None, _json_data(instance.model_dump(mode="json"), value, where)
    if not isinstance(field, str):
        raise InputError(f"label({where}): field= is a field name (a string) or None, got {field!r}.")
    info = _field_info(model, field, where)
    if value is None:
        return field, None
    # the annotation with its constraints (``Field(ge=0)``, ``max_length``...)
    constrained = (info.annotation, *info.metadata)
    target: Any = Annotated[constrained] if info.metadata else info.annotation
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(target)
    try:
        data = adapter.dump_python(adapter.validate_python(value), mode="json")
    except pydantic.ValidationError as exc:
        raise InputError(
            f"label({where}, field={field!r}): value {value!r} does not fit the field: {_first(exc)}"
        ) from None
    return field, _json_data(data, value, f"{where}, field={field!r}")


def _json_data(data: Any, value: Any, where: str) -> Any:
    """``data`` when it is JSON: a NaN or an infinity in it is an ``InputError``."""
    try:
        json.dumps(data, allow_nan=False)
    except ValueError:
        raise InputError(
            f"label({where}): value {value!r} holds NaN or an infinity, which a right value cannot be (it is "
            "kept as JSON data)."
        ) from None
    return data


def model_fields(model: type[pydantic.BaseModel] | None) -> list[str]:
    """The fields a review labels: the model's own fields, in order (none for text answers)."""
    return list(model.model_fields) if model is not None else []


def _field_info(model: type[pydantic.BaseModel], path: str, where: str) -> pydantic.fields.FieldInfo:
    """The field at a dotted ``path`` (``address.city``) of ``model``."""
    current: Any = model
    info: pydantic.fields.FieldInfo | None = None
    for depth, part in enumerate(path.split(".")):
        fields = current.model_fields if _is_model(current) else {}
        if part not in fields:
            known = ", ".join(fields) if fields else "none: it is not a model"
            inside = ".".join(path.split(".")[:depth]) or model.__name__
            raise InputError(f"label({where}): {inside} has no field {part!r} (its fields: {known}).")
        info = fields[part]
        current = _model_in(info.annotation)
    assert info is not None
    return info


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, pydantic.BaseModel)


def _model_in(annotation: Any) -> Any:
    """The model an annotation holds (``Address``, ``Address | None``), else the annotation."""
    if _is_model(annotation):
        return annotation
    options = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    return options[0] if len(options) == 1 and _is_model(options[0]) else annotation


def _first(exc: pydantic.ValidationError) -> str:
    error = exc.errors()[0]
    place = ".".join(str(p) for p in error.get("loc", ()))
    return (f"{place}: " if place else "") + str(error.get("msg", exc))
