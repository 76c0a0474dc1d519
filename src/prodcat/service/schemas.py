"""The JSON the service reads and writes, as pydantic models (they also make the OpenAPI schema)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TEXT_JOINER = " \n "  # how prodcat.data.reading joins a title and a description column

Id = str | int


class Item(BaseModel):
    """One product: its ``text``, or a ``title`` and/or ``description`` (joined when ``text`` is absent)."""

    model_config = ConfigDict(extra="forbid")

    id: Id | None = Field(None, description="Your identifier, echoed in the result.")
    title: str | None = None
    description: str | None = None
    text: str | None = Field(None, description="The full text; when given, title and description are not used.")

    @field_validator("id", "title", "description", "text")
    @classmethod
    def _valid_unicode(cls, value: Id | None) -> Id | None:
        """Refuses lone surrogates (JSON escapes such as ``\\ud800``): they are no characters, and an id
        that holds one could not be echoed back as UTF-8."""
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(
                    f"character {exc.start} is a lone surrogate ({value[exc.start]!a}), which is not valid Unicode; "
                    f"send UTF-8 text, with surrogate escapes only in pairs"
                ) from None
        return value

    @model_validator(mode="after")
    def _has_some_text(self) -> "Item":
        if self.text is None and self.title is None and self.description is None:
            raise ValueError("give text, or title and/or description")
        return self

    def joined_text(self) -> str:
        """``text`` if given, else title and description joined the way catalog columns are."""
        if self.text is not None:
            return self.text
        return TEXT_JOINER.join(part for part in (self.title, self.description) if part).strip()


class CategorizeRequest(BaseModel):
    """Products to categorize in one model call, and how many best categories to return for each."""

    model_config = ConfigDict(extra="forbid")

    items: list[Item]
    top_k: int = Field(3, ge=1, le=100, description="How many best categories to list per item.")
    explain: bool = Field(False, strict=True, description="Also say which words and n-grams pushed each item to its category and not the runner-up.")


class CategoryScore(BaseModel):
    category: str
    confidence: float


class TermContribution(BaseModel):
    term: str
    contribution: float


class ExplanationResult(BaseModel):
    """Why ``category`` and not ``runner_up`` (see ``prodcat.explanation.Explanation``): exact
    contributions to the decision value's difference for the linear family (``method: "linear"``),
    the drop of the probability difference without each word for the others (``"occlusion"``)."""

    category: str
    runner_up: str
    method: str
    margin: float
    supporting: list[TermContribution]
    opposing: list[TermContribution]
    rest: float
    baseline: float | None
    untested_words: int


class ItemResult(BaseModel):
    """The category of one item; ``category`` is null with a ``reason`` when its text is empty.

    For a model of category paths (``A > B > C``), ``path``, ``path_confidence`` and ``depth`` say
    how deep the prediction is trusted; any further field a ``Prediction`` gains is passed on too.
    """

    model_config = ConfigDict(extra="allow")

    id: Id | None
    category: str | None
    confidence: float | None
    top_k: list[CategoryScore]
    needs_review: bool
    reason: str | None
    depth: int | None = None
    path: list[str] | None = None
    path_confidence: list[float] | None = None
    explanation: ExplanationResult | None = None


class ModelInfo(BaseModel):
    """Which model answered."""

    name: str | None
    family: str
    created: str | None
    prodcat_version: str


class CategorizeResponse(BaseModel):
    model: ModelInfo
    items: list[ItemResult]


class ModelDescription(BaseModel):
    """What ``Categorizer.describe()`` says about the served model (labels, calibration, metrics, ...)."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    family: str
    created: str | None = None
    labels: list[str]
    threshold: float | None
    target_precision: float | None = None
    calibration: dict = Field(default_factory=dict)
    metrics: dict | None = None


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """Every error: one readable line in ``detail``; for invalid input, each problem in ``errors``."""

    detail: str
    errors: list[FieldError] | None = None


class Status(BaseModel):
    status: str
    detail: str | None = None
