//! How the core's values read in a line a person reads (a trace, a failure's story, a
//! shell): `Display` for the compound ids, timers and gateway calls, in words and units
//! (`section 1/0`, `ticket 2049.0`, `order 2049`, `capture 26.66`), never a `Debug` dump.
//! Plain ids keep their own `Display` (`OrderId#2049`) for logs and APIs.

use std::fmt;

use crate::Timer;
use crate::ids::{Actor, PaymentId, PayoutId, RefundId, SectionKey, TicketId};
use crate::money::BasisPoints;
use crate::payment::{GatewayOutcome, GatewayRequest, Operation};
use crate::read_models::StreamId;

impl fmt::Display for SectionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "section {}/{}", self.show.0, self.section.0)
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Organizer(organizer) => write!(f, "organizer {}", organizer.0),
            Actor::Customer(customer) => write!(f, "customer {}", customer.0),
            Actor::Service => f.write_str("a service"),
            Actor::System => f.write_str("the system"),
        }
    }
}

impl fmt::Display for BasisPoints {
    /// A share as a percentage: `50 %`, `12.5 %`, `33.33 %`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, hundredths) = (self.0 / 100, self.0 % 100);
        match hundredths {
            0 => write!(f, "{whole} %"),
            h if h % 10 == 0 => write!(f, "{whole}.{} %", h / 10),
            h => write!(f, "{whole}.{h:02} %"),
        }
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ticket {}.{}", self.order.0, self.index)
    }
}

impl fmt::Display for PaymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PaymentId::Order(order) => write!(f, "order {}", order.0),
            PaymentId::Resale(resale) => write!(f, "resale {}", resale.0),
        }
    }
}

impl fmt::Display for RefundId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ticket {
            Some(ticket) => write!(f, "refund of {ticket}"),
            None => write!(f, "refund of {}", self.payment),
        }
    }
}

impl fmt::Display for PayoutId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "payout of resale {}", self.resale.0)
    }
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timer::HoldExpiry { section, order } => {
                write!(f, "hold of order {} in {section} expires", order.0)
            }
            Timer::OrderExpiry { order } => write!(f, "order {} expires", order.0),
            Timer::ShowStart { show } => write!(f, "show {} starts", show.0),
            Timer::PaymentRetry { payment } => write!(f, "payment of {payment} retries"),
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Authorize => f.write_str("authorize"),
            Operation::Capture => f.write_str("capture"),
            Operation::Void => f.write_str("void"),
            Operation::Refund(refund) => write!(f, "{refund}"),
            Operation::Payout(payout) => write!(f, "{payout}"),
        }
    }
}

impl fmt::Display for GatewayRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GatewayRequest::Authorize { amount, method } => {
                write!(f, "authorize {amount} on card {}", method.token)
            }
            GatewayRequest::Capture { amount } => write!(f, "capture {amount}"),
            GatewayRequest::Void => f.write_str("void"),
            GatewayRequest::Refund { amount } => write!(f, "refund {amount}"),
            GatewayRequest::Payout { amount, to } => {
                write!(f, "pay {amount} out to customer {}", to.0)
            }
            GatewayRequest::Status => f.write_str("status?"),
        }
    }
}

impl fmt::Display for GatewayOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GatewayOutcome::Approved => "approved",
            GatewayOutcome::Declined => "declined",
            GatewayOutcome::Unknown => "unknown (no answer)",
            GatewayOutcome::NotFound => "not found",
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamId::Show(show) => write!(f, "show {}", show.0),
            StreamId::Inventory(section) => write!(f, "{section}"),
            StreamId::Order(order) => write!(f, "order {}", order.0),
            StreamId::Payment(payment) => write!(f, "payment of {payment}"),
            StreamId::Ticket(ticket) => write!(f, "{ticket}"),
            StreamId::Resale(resale) => write!(f, "resale {}", resale.0),
        }
    }
}

// A status is one word: its name.
impl fmt::Display for crate::order::OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl fmt::Display for crate::ticket::resale::ResaleStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrderId, SectionIndex, ShowId};
    use crate::money::Money;

    #[test]
    fn values_read_in_words_and_units() {
        let section = SectionKey {
            show: ShowId(1),
            section: SectionIndex(0),
        };
        let order = OrderId(2049);
        assert_eq!(section.to_string(), "section 1/0");
        assert_eq!(TicketId { order, index: 2 }.to_string(), "ticket 2049.2");
        assert_eq!(
            Timer::HoldExpiry { section, order }.to_string(),
            "hold of order 2049 in section 1/0 expires"
        );
        assert_eq!(
            GatewayRequest::Capture {
                amount: Money(2666)
            }
            .to_string(),
            "capture 26.66"
        );
        assert_eq!(
            StreamId::Payment(PaymentId::Order(order)).to_string(),
            "payment of order 2049"
        );
        assert_eq!(
            Actor::Customer(crate::CustomerId(7)).to_string(),
            "customer 7"
        );
        assert_eq!(Actor::Service.to_string(), "a service");
        assert_eq!(BasisPoints(5000).to_string(), "50 %");
        assert_eq!(BasisPoints(1250).to_string(), "12.5 %");
        assert_eq!(BasisPoints(3333).to_string(), "33.33 %");
        assert_eq!(BasisPoints(5).to_string(), "0.05 %");
    }
}
