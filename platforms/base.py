"""The platform contract: canonical order types, the adapter surface, and the error tree.

The canonical order (:mod:`oms_bridge.model.orders`) and the error tree (:mod:`oms_bridge.model.errors`) are
defined below the marketplace package, because the store and the destinations use them too; this module
re-exports them as part of the one surface an adapter implements, and adds what only adapters need
(tokens, shipments, cancel answers, listings, the :class:`Adapter` itself).

Every marketplace adapter (``platforms/<type>/adapter.py``) subclasses :class:`Adapter`. The
channel processes (GetOrder, RefreshToken, logistics push-back) only ever talk to this surface;
they never branch on the platform's name. Everything platform-specific (signing, paging,
windows, detail batching, local-time strings, status tables) stays in the platform's folder.

Canonical values:

- times are timezone-aware UTC ``datetime`` (local strings are converted at the adapter edge);
- money is ``Decimal`` with the currency's decimals (TWD has none), never ``float``;
- ``status`` is one of :data:`CANONICAL_STATUSES`; ``platform_status`` keeps the raw value.

Errors (one tree, ``PlatformError`` at the root; the first matching class decides what the
caller does):

- :class:`AuthExpired`: the access token was rejected → refresh (single-flight) and retry once.
- :class:`ReauthRequired`: the refresh token / authorization is gone → the merchant must authorize again.
- :class:`CredentialsInvalid`: static credentials (HMAC key, momo login) rejected → admin fixes them.
- :class:`RateLimited` (a :class:`TransientError`): wait ``retry_after`` seconds, then retry.
- :class:`TransientError`: network, timeout, 5xx, malformed body → retry with backoff.
- :class:`PermanentError`: the request itself is wrong → no retry; quarantine with the message.
- :class:`OutcomeUnknown`: a call that changes state on the marketplace (ship, confirm) may have been
  applied but its answer was lost → never send it again blindly: read the remote state
  (:meth:`Adapter.shipment_state`) and record what really happened.

Cancellation requests (:class:`CancelRequest` on :attr:`Order.cancel_request`): a request the seller may
refuse (Shopee ``IN_CANCEL``, momo 攔貨) is not a cancellation. The bridge holds the order in the ERP and the
OMS while it is open and answers it with :meth:`Adapter.answer_cancel_request` (accept = intercepted, the order
becomes ``cancelled``; refuse = too late, the goods left and come back as a return). A platform whose adapter
does not implement the answer (the default raises :class:`NotSupported`) decides itself: the bridge only waits
until the marketplace closes the request (cancels the order or withdraws the request).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from oms_bridge.model.errors import (
    AuthExpired,
    CredentialsInvalid,
    NotSupported,
    OutcomeUnknown,
    PermanentError,
    PlatformError,
    RateLimited,
    ReauthRequired,
    TransientError,
)
from oms_bridge.model.orders import (
    CANONICAL_STATUSES,
    Address,
    Buyer,
    CancelRequest,
    Order,
    OrderLine,
    UnmappableOrder,
    require_aware,
)

__all__ = [
    "CANONICAL_STATUSES", "Address", "Buyer", "OrderLine", "Order", "UnmappableOrder", "TokenSet",
    "Shipment", "ShipResult", "PlatformConfig", "ChannelConfig", "Adapter",
    "PlatformError", "AuthExpired", "ReauthRequired", "CredentialsInvalid", "TransientError",
    "RateLimited", "PermanentError", "NotSupported", "OutcomeUnknown", "CancelRequest", "CancelAnswer", "OrderRef",
]


@dataclass(frozen=True)
class CancelAnswer:
    """What the marketplace recorded for the seller's answer to a :class:`CancelRequest`.

    ``accepted``: the answer given (True: intercepted / cancellation accepted; False: too late / refused).
    ``repeated``: the marketplace said the request had been answered already (an earlier answer whose reply was
    lost): the answer stands, nothing new was applied.
    """

    accepted: bool
    repeated: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class OrderRef:
    """One order as a listing shows it, without its details (reconciliation's list-only pass)."""

    external_id: str
    updated_at: datetime | None = None
    created_at: datetime | None = None
    platform_status: str | None = None

    def __post_init__(self) -> None:
        for name in ("updated_at", "created_at"):
            require_aware(f"OrderRef.{name}", getattr(self, name))


@dataclass(frozen=True)
class TokenSet:
    """OAuth tokens of a channel. A refresh returns a new set; the old refresh token is dead."""

    access_token: str
    refresh_token: str | None = None
    access_expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    # End of the merchant's authorization (Shopee: at most 365 days after consent).
    auth_expires_at: datetime | None = None
    # Platform extras returned with the tokens (shop_id, merchant_id_list, ...).
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("access_expires_at", "refresh_expires_at", "auth_expires_at"):
            require_aware(f"TokenSet.{name}", getattr(self, name))

    def expires_within(self, now: datetime, margin: timedelta) -> bool:
        """True when the access token expires before ``now + margin`` (or its expiry is unknown)."""
        return self.access_expires_at is None or self.access_expires_at <= now + margin

    def __repr__(self) -> str:  # never show a token
        return (f"TokenSet(access_token='****', refresh_token='****', "
                f"access_expires_at={self.access_expires_at!r}, refresh_expires_at={self.refresh_expires_at!r})")


@dataclass(frozen=True)
class Shipment:
    """What to tell the marketplace when a package ships."""

    tracking_number: str
    carrier: str | None = None  # the platform's carrier code/name (mapped by the caller's carrier table)
    package_number: str | None = None
    line_ids: tuple[str, ...] = ()  # external line ids in this package (all lines when empty)
    shipped_at: datetime | None = None


@dataclass(frozen=True)
class ShipResult:
    """The marketplace's answer to a ship call.

    ``note``: what the admin should know about this shipment beyond success, in one sentence without order
    or buyer data (e.g. "Shopline cannot store the tracking number; it is kept in the bridge"); the
    logistics run lists each distinct note among its warnings.
    """

    tracking_number: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    note: str | None = None


@dataclass(frozen=True)
class PlatformConfig:
    """What the admin configured on ``oms_platform`` (secret already decrypted)."""

    host: str
    app_id: str | None = None
    app_secret: str | None = field(default=None, repr=False)
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelConfig:
    """What the admin configured on ``oms_channel`` (credentials already decrypted)."""

    name: str
    shop_id: str | None = None
    credentials: Mapping[str, Any] = field(default_factory=dict, repr=False)
    settings: Mapping[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------- adapter
class Adapter(abc.ABC):
    """One marketplace, bound to one channel's configuration and current tokens.

    Subclasses set :attr:`platform_type` (the registry key) and implement the abstract methods.
    ``api_calls`` counts HTTP requests sent (including retries), for process-run statistics: an adapter
    names its HTTP clients in :meth:`call_counters` and the count follows them; setting ``api_calls``
    (e.g. to 0 before a run) counts on from that value. An adapter that names none can count itself
    (``self.api_calls += 1``).

    ``policy`` is a :class:`oms_bridge.remote.http.RetryPolicy` (tests pass one that does not sleep);
    ``clock`` returns aware-UTC now and is used for signatures, token expiry and windows (tests
    pass the sandbox clock so token expiry can be simulated without waiting).
    """

    platform_type: ClassVar[str]
    display_name: ClassVar[str]
    #: Fields the admin must give for a channel's static credentials (name -> help text).
    credential_fields: ClassVar[Mapping[str, str]] = {}
    #: How long the marketplace accepts the consent link of :meth:`authorize_url` (None: no limit known).
    consent_link_ttl: ClassVar[timedelta | None] = None

    @classmethod
    def required_credentials(cls, settings: Mapping[str, Any],
                             credentials: Iterable[str] = ()) -> Mapping[str, str]:
        """The credential fields a channel with these settings needs (name -> help text).

        ``settings`` are the channel's over the platform's; ``credentials`` the names already stored (some
        adapters infer their auth model from them). The channel view lists the missing ones, so the hint
        fits the channel's auth model. A setting the adapter refuses (an unknown ``auth_model``) raises
        :class:`PermanentError`, so configuration catches a typo when it is typed, not at first use.
        Default: every declared field.
        """
        return cls.credential_fields

    def __init__(self, platform: PlatformConfig, channel: ChannelConfig, tokens: TokenSet | None = None, *,
                 policy: Any = None, clock: Callable[[], datetime] | None = None):
        self.platform = platform
        self.channel = channel
        self.tokens = tokens
        self.policy = policy
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.api_calls = 0

    # -- call counting ---------------------------------------------------------------------------
    def call_counters(self) -> Iterable[Any]:
        """The objects (HTTP clients) whose ``calls`` this adapter's requests add to; None entries are skipped.

        Called from ``__init__`` too, before a subclass has built its clients: read them with a default.
        """
        return ()

    def _counted_calls(self) -> int:
        return sum(counter.calls for counter in self.call_counters() if counter is not None)

    @property
    def api_calls(self) -> int:
        """HTTP requests sent by this adapter (retries included) since the counter was last set."""
        return self._api_calls_base + self._counted_calls()

    @api_calls.setter
    def api_calls(self, value: int) -> None:
        self._api_calls_base = value - self._counted_calls()

    # -- auth ------------------------------------------------------------------------------------
    @property
    def uses_oauth(self) -> bool:
        """True when the channel authorizes by OAuth (and so needs RefreshToken)."""
        return False

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """The marketplace page where the merchant grants access."""
        raise NotSupported("this platform has no OAuth authorization", platform=self.platform_type)

    def exchange_code(self, params: Mapping[str, str], redirect_uri: str | None = None) -> TokenSet:
        """Turn the callback parameters (code, shop id, ...) into tokens."""
        raise NotSupported("this platform has no OAuth authorization", platform=self.platform_type)

    def refresh(self, tokens: TokenSet) -> TokenSet:
        """A new token set; the returned refresh token replaces the old one."""
        raise NotSupported("this platform has no token refresh", platform=self.platform_type)

    def set_tokens(self, tokens: TokenSet | None) -> None:
        """Use these tokens from now on (after a refresh done elsewhere)."""
        self.tokens = tokens

    @abc.abstractmethod
    def check_credentials(self) -> str:
        """One cheap authenticated call; returns a human sentence on success, raises a typed error."""

    # -- orders ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def fetch_orders(self, since: datetime, until: datetime) -> Iterator[Order | UnmappableOrder]:
        """Orders created or updated in ``[since, until)``.

        The adapter splits windows, pages and batches detail calls as its API requires; it yields
        orders as they are mapped so memory stays flat. An order that cannot be mapped is yielded
        as :class:`UnmappableOrder` instead of stopping the iteration.
        """

    @abc.abstractmethod
    def get_orders(self, external_ids: Iterable[str]) -> list[Order | UnmappableOrder]:
        """Re-read specific orders."""

    def list_orders(self, since: datetime, until: datetime) -> Iterator[OrderRef]:
        """Every order created or updated in ``[since, until)`` as the listing shows it, with no detail call.

        Reconciliation compares this with the store; it must use the same windows and paging guarantees as
        :meth:`fetch_orders` (no order lost between pages) at the cost of the list calls alone.
        """
        raise NotSupported("this platform cannot list orders without reading them", platform=self.platform_type)

    # -- logistics -------------------------------------------------------------------------------
    @abc.abstractmethod
    def ship(self, order: Order, shipment: Shipment) -> ShipResult:
        """Tell the marketplace the order (or package) shipped with this tracking number.

        The state-changing call goes out with ``idempotent=False``: a lost answer raises
        :class:`OutcomeUnknown` and is never re-sent here; the caller asks :meth:`shipment_state`. Any other
        error means the marketplace did not apply the shipment (reads that fail *after* an accepted shipment,
        e.g. fetching the tracking number, must not raise: return what is known).
        """

    def shipment_state(self, order: Order) -> ShipResult | None:
        """What the marketplace has recorded for the order's shipment, read without changing anything.

        A :class:`ShipResult` (with the tracking number the marketplace holds, if any) when the order is
        already shipped or its shipment arranged there; ``None`` when it is not, so shipping it is safe.
        Called after :class:`OutcomeUnknown` and before re-sending a push whose earlier attempt may have
        reached the marketplace.
        """
        raise NotSupported("this platform cannot read back a shipment", platform=self.platform_type)

    # -- cancellation requests ------------------------------------------------------------------------
    def answer_cancel_request(self, order: Order, accept: bool) -> CancelAnswer:
        """Answer the order's open :attr:`Order.cancel_request`: ``accept`` = stop the shipment and cancel
        (momo ``stopAct`` 1, 確定攔貨), otherwise refuse because the goods already left (momo ``stopAct`` 0,
        來不及攔貨; the order then comes back as a return).

        A state-changing call: it goes out with ``idempotent=False``; a lost answer raises :class:`OutcomeUnknown`
        and the caller re-reads the order (:meth:`get_orders`) before answering again: a request the marketplace
        no longer lists was answered. The default raises :class:`NotSupported`: the marketplace decides on its
        own and the bridge only waits (holding the order) until the request closes.
        """
        raise NotSupported("this platform lets the seller answer no cancellation request; the marketplace decides",
                           platform=self.platform_type)
