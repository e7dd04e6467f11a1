"""Request bodies decoded straight into the model's typed columns, by a schema compiled from its signature.

A 1,000-property batch is about 80,000 JSON values. Parsing them into dictionaries and then checking every
value in Python costs tens of milliseconds; a msgspec decoder built from the model card does the parsing
and the type checks in one pass of compiled code (strings for categories, numbers for numeric features,
required features present and not null, no unknown keys), and hands over each property as a tuple in
signature order. What a schema cannot say (finite numbers, known categories) is checked on the columns
by ``BatchValidator.typed``.

This is only the fast path for bodies that are right. A body the schema refuses for any reason is decoded
again by the exhaustive path (``http_io.parse_json`` and ``BatchValidator.validate``), which names every
offending field; the first error msgspec found is not what the caller gets. The two paths must give the
same columns for every body the fast one accepts: tests/estimation_engine/api/test_schema_decoding.py compares
them on varied real and hand-written bodies.

The same struct is the request contract the docs show: api_schema.py takes the OpenAPI ``Property`` schema
from ``property_struct`` through msgspec's own JSON Schema generator, so what is documented is what decodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import msgspec

from estimation_engine.api.http_io import object_with, parse_json
from estimation_engine.api.validation import BatchSource, BatchValidator, ValidatedBatch
from estimation_engine.settings import UnknownCategoryPolicy
from model_contract.artifact import Feature, ModelCard


class TooManyItemsError(Exception):
    """The body is a valid batch of more items than the engine takes in one request."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


# Above this size a body's items are counted before anything is built from them: decoded, a body of
# minimal items takes about ten times its size in memory (a 32 MiB body of 450,000 items: 320 MB), which
# must not happen for a batch that is refused anyway. A full 1,000-property batch is about 1.6 MB.
COUNT_FIRST_BYTES = 4 * 1024 * 1024


class SchemaDecoder:
    """Decodes ``{"<key>": [property, ...]}`` for one model card and one top-level key."""

    def __init__(self, card: ModelCard, key: str, validator: BatchValidator, max_items: int) -> None:
        self.key = key
        self.validator = validator
        self.max_items = max_items
        self.width = len(card.features)
        item = property_struct(card, validator.unknown_categories)
        body = msgspec.defstruct(
            "Batch", [("items", list[item])], rename={"items": key}, forbid_unknown_fields=True
        )
        self._decoder = msgspec.json.Decoder(body)
        # The same document with each item left undecoded (a slice of the body): to count items cheaply.
        shape = msgspec.defstruct("Shape", [("items", list[msgspec.Raw])], rename={"items": key})
        self._counter = msgspec.json.Decoder(shape)
        # astuple gives a property's values in the struct's field order; this puts them in signature order.
        order = item.__struct_fields__
        self._signature_order = [order.index(f"f{position}") for position in range(self.width)]

    def batch(self, body: bytes) -> ValidatedBatch:
        """The body's properties as validated columns: by the compiled schema when the body fits it, else
        parsed generically and checked field by field, so that each problem is named (InvalidInputError,
        TooManyItemsError; HttpProblemError for a body that is no such batch). The batch keeps the body
        it came from (the shadow process validates it again, shadow.py)."""
        batch = self.decode(body)
        if batch is None:
            items = object_with(parse_json(body), self.key, f'{{"{self.key}": [{{"feature": value, ...}}]}}')
            if isinstance(items, list) and len(items) > self.max_items:
                raise TooManyItemsError(len(items))
            batch = self.validator.validate(items, self.key)
        batch.source = BatchSource(self.key, body)
        return batch

    def decode(self, body: bytes) -> ValidatedBatch | None:
        """The validated batch, or None when the body does not fit the schema (or holds no property).

        Raises TooManyItemsError for a batch over the limit (whatever its items hold), InvalidInputError
        for unknown categories the engine is configured to refuse (as ``BatchValidator.validate`` does).
        """
        items = self.items(body)
        return None if items is None else self.typed(items)

    def items(self, body: bytes) -> list[msgspec.Struct] | None:
        """The body's properties as decoded structs (types checked, nothing else yet), or None when the
        body does not fit the schema or holds no property; TooManyItemsError over the limit."""
        if len(body) > COUNT_FIRST_BYTES:
            self._refuse_too_many(body)
        try:
            items = self._decoder.decode(body).items
        # Malformed JSON and schema violations alike, and invalid UTF-8 (which msgspec reports as
        # UnicodeDecodeError): the exhaustive path names the problem.
        except (msgspec.DecodeError, UnicodeDecodeError):
            return None
        if not items:
            return None
        if len(items) > self.max_items:
            raise TooManyItemsError(len(items))
        return items

    def typed(self, items: Sequence[msgspec.Struct]) -> ValidatedBatch | None:
        """Decoded properties as a validated batch, None as for ``decode``. The items may come from several
        bodies, and from any decoder of this card (their structs have the same fields in the same order):
        each value's column entry, warning or problem depends on that value alone."""
        columns = list(zip(*map(msgspec.structs.astuple, items), strict=True))
        signature_columns = [columns[position] for position in self._signature_order]
        return self.validator.typed(signature_columns, len(items), self.key)

    def _refuse_too_many(self, body: bytes) -> None:
        try:
            count = len(self._counter.decode(body).items)
        except (msgspec.DecodeError, UnicodeDecodeError):  # not a batch at all: the other paths say why
            return
        if count > self.max_items:
            raise TooManyItemsError(count)


def body_decoders(card: ModelCard, validator: BatchValidator, max_items: int) -> dict[str, SchemaDecoder]:
    """A decoder per top-level key the engine takes: "properties" (/v1/estimate), "data" (/score). The
    engine and its shadow process both build them here, so both read a body into the same columns."""
    return {key: SchemaDecoder(card, key, validator, max_items) for key in ("properties", "data")}


def property_struct(card: ModelCard, unknown_categories: UnknownCategoryPolicy) -> type[msgspec.Struct]:
    """One property of ``card``'s model as a msgspec struct: numbers for numeric features, strings for
    categories, required features present and not null, no unknown key; fields in signature order but the
    required first (a field without a default may not follow one with a default). The annotations only
    document (what the docs show of the categories); they constrain nothing the validator checks."""
    fields: list[tuple[Any, ...]] = []
    renamed = {}
    for position, feature in enumerate(card.features):
        attribute = f"f{position}"  # feature names need not be Python identifiers
        renamed[attribute] = feature.name
        base = float if feature.kind == "numeric" else str
        kind = Annotated[base, _documented(feature, unknown_categories)]
        if feature.required:
            fields.append((attribute, kind))
        else:  # an absent feature is missing: None, as a null (BatchValidator makes both NaN)
            fields.append((attribute, kind | None, None))
    fields.sort(key=lambda field: len(field) == 3)
    # gc=False: a batch is a thousand short-lived structs that hold no reference cycles.
    return msgspec.defstruct("Property", fields, rename=renamed, forbid_unknown_fields=True, gc=False)


def _documented(feature: Feature, unknown_categories: UnknownCategoryPolicy) -> msgspec.Meta:
    if feature.kind == "numeric":
        return msgspec.Meta()
    if unknown_categories is UnknownCategoryPolicy.REJECT:
        levels = [*feature.categories, *([] if feature.required else [None])]
        return msgspec.Meta(extra_json_schema={"enum": levels})
    described = (
        f"Levels seen in training: {', '.join(feature.categories)}. Other levels are accepted with a warning."
    )
    return msgspec.Meta(description=described, examples=list(feature.categories[:5]))
