//! The `sometimes` probes of SIMULATION.md, under their exact names: interesting
//! moments a sweep must reach somewhere, or it has a blind spot.

/// A reserve was refused for want of seats right after the last seat was taken.
pub const LAST_SEAT_CONTENDED: &str = "last_seat_contended";
/// A reserve named a numbered seat another order holds or bought.
pub const SAME_NUMBERED_SEAT_CONTENDED: &str = "same_numbered_seat_contended";
/// A hold expired before its customer paid.
pub const HOLD_EXPIRED_BEFORE_PAY: &str = "hold_expired_before_pay";
/// A payment was authorized after the order's hold had expired.
pub const AUTHORIZED_AFTER_HOLD_EXPIRED: &str = "authorized_after_hold_expired";
/// Money captured for an order or resale that did not complete was refunded in full.
pub const LATE_CAPTURE_REFUNDED: &str = "late_capture_refunded";
/// The gateway answered a call with an unknown outcome (a timeout).
pub const GATEWAY_OUTCOME_UNKNOWN: &str = "gateway_outcome_unknown";
/// The gateway answered one call twice.
pub const GATEWAY_ANSWERED_TWICE: &str = "gateway_answered_twice";
/// A service crashed while an order held seats and had not paid.
pub const CRASH_BETWEEN_RESERVE_AND_PAY: &str = "crash_between_reserve_and_pay";
/// A service crashed with unacknowledged outbox messages.
pub const CRASH_WITH_UNSENT_OUTBOX: &str = "crash_with_unsent_outbox";
/// A restarted service found a torn last record and dropped it.
pub const TORN_RECORD_DROPPED: &str = "torn_record_dropped";
/// A service's inbox dropped a message it had already consumed.
pub const DUPLICATE_DELIVERY_DROPPED: &str = "duplicate_delivery_dropped";
/// A partition healed while orders were in flight (begun and not yet ended).
pub const PARTITION_HEALED_MID_ORDER: &str = "partition_healed_mid_order";
/// The show was cancelled while orders were open.
pub const SHOW_CANCELLED_WITH_OPEN_ORDERS: &str = "show_cancelled_with_open_orders";
/// A transfer was judged within a minute of the 24-hour cut-off.
pub const TRANSFER_AT_24H_EDGE: &str = "transfer_at_24h_edge";
/// Several buyers went for the same resale listing.
pub const RESALE_CONTENDED: &str = "resale_contended";
/// A ticket was cancelled within an hour of a refund boundary (7 or 3 days).
pub const REFUND_AT_EACH_POLICY_BOUNDARY: &str = "refund_at_each_policy_boundary";
/// An adversarial move was rejected.
pub const ADVERSARY_REJECTED: &str = "adversary_rejected";
/// A refund, void or payout we owe was declined by a gateway in an outage (and so must
/// be retried until the gateway is back).
pub const OWED_MONEY_DECLINED_IN_OUTAGE: &str = "owed_money_declined_in_outage";

/// Every probe, in report order.
pub const ALL: &[&str] = &[
    LAST_SEAT_CONTENDED,
    SAME_NUMBERED_SEAT_CONTENDED,
    HOLD_EXPIRED_BEFORE_PAY,
    AUTHORIZED_AFTER_HOLD_EXPIRED,
    LATE_CAPTURE_REFUNDED,
    GATEWAY_OUTCOME_UNKNOWN,
    GATEWAY_ANSWERED_TWICE,
    CRASH_BETWEEN_RESERVE_AND_PAY,
    CRASH_WITH_UNSENT_OUTBOX,
    TORN_RECORD_DROPPED,
    DUPLICATE_DELIVERY_DROPPED,
    PARTITION_HEALED_MID_ORDER,
    SHOW_CANCELLED_WITH_OPEN_ORDERS,
    TRANSFER_AT_24H_EDGE,
    RESALE_CONTENDED,
    REFUND_AT_EACH_POLICY_BOUNDARY,
    ADVERSARY_REJECTED,
    OWED_MONEY_DECLINED_IN_OUTAGE,
];
