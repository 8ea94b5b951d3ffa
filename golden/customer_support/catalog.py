"""The customer-support catalog, declared as Pydantic argument models (one per tool)."""

from pydantic import BaseModel, ConfigDict, Field

from harness.catalog import catalog_from_models

# Free-text reasons cannot fairly be judged by equality. A reason matches when it contains
# the gold phrase (or an accepted one) as whole words, or when it is similar enough to it
# (harness.similarity): the policy and threshold `routecheck calibrate` recommends on the
# hand-labelled pairs in golden/calibration (README, "Free-text arguments").
_REASON = {"x-match": "contains-or-similar", "x-threshold": 0.85}

# An order id must come from the customer, never from the model: it is grounded. It is
# compared in id form (case and separators ignored), because the router is expected to
# write "ord 5561" or "ORD5590" as ORD-5561 and ORD-5590; inventing or changing a digit
# still makes the call ungrounded (README, "Grounded arguments").
_ORDER_ID = {"x-grounded": "id"}


class TrackOrderArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = Field(description="Order id, e.g. ORD-1234", json_schema_extra=_ORDER_ID)


class RequestRefundArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = Field(description="Order id, e.g. ORD-1234", json_schema_extra=_ORDER_ID)
    reason: str = Field(description="Why the customer wants a refund", json_schema_extra=_REASON)


class EscalateArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(description="Why a human is needed", json_schema_extra=_REASON)


CATALOG = catalog_from_models(
    name="customer_support",
    description="You route customer-support requests to tools.",
    tools={
        "track_order": ("get the status of an order.", TrackOrderArgs),
        "request_refund": ("file a refund.", RequestRefundArgs),
        "escalate": ("hand off to a human agent.", EscalateArgs),
    },
)
