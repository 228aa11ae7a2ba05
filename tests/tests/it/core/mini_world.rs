//! A mini world: every aggregate hosted in memory, messages through one FIFO queue, a
//! fake payment gateway the test scripts, and timers that fire only when told.
//!
//! It follows the calling protocol of `turnstile_core` (decide, append, apply, execute
//! the effects, answer the sender) and nothing more, so the saga's behaviour seen here
//! is the core's own. The gateway keeps its own ledger by idempotency key: that ledger,
//! not our payment records, is the truth the tests assert money against.

use std::collections::{BTreeMap, VecDeque};
use turnstile_core::host::{Handled, Stream};
use turnstile_core::inventory::Inventory;
use turnstile_core::order::{self, Order, OrderCommand, OrderStatus};
use turnstile_core::payment::{
    GatewayCall, GatewayKey, GatewayOutcome, GatewayRequest, Operation, Payment, PaymentCommand,
    PaymentMethod,
};
use turnstile_core::read_models::{DomainEvent, Published, ReadModels, StreamId};
use turnstile_core::show::{SectionSpec, Show, ShowCatalog, ShowCommand, ShowError};
use turnstile_core::ticket::resale::{self, Resale, ResaleCommand, ResaleError};
use turnstile_core::ticket::{self, Ticket, TicketCommand, TicketError, TicketStatus};
use turnstile_core::{
    Actor, Aggregate, CommandId, CustomerId, Effect, Envelope, Message, Money, Notice, OrderId,
    PaymentId, Recorded, ResaleId, SectionIndex, SectionKey, ShowId, TicketId, Timer, Timestamp,
};

use super::support::{ORGANIZER, T0};

/// The kinds of gateway call a script can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CallKind {
    Authorize,
    Capture,
    Void,
    Refund,
    Payout,
}

impl CallKind {
    fn of(operation: Operation) -> CallKind {
        match operation {
            Operation::Authorize => CallKind::Authorize,
            Operation::Capture => CallKind::Capture,
            Operation::Void => CallKind::Void,
            Operation::Refund(_) => CallKind::Refund,
            Operation::Payout(_) => CallKind::Payout,
        }
    }
}

/// How the fake gateway answers one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scripted {
    /// Do it and say so.
    Approve,
    /// Refuse it.
    Decline,
    /// Do it, then time out: the caller hears `Unknown`.
    TimeoutAfterDoing,
    /// Never receive it: the caller hears `Unknown`, a status query finds nothing.
    TimeoutLost,
    /// Do it and answer twice.
    ApproveTwice,
    /// Keep the call unanswered until the test releases it.
    Hold,
}

/// The gateway's own record of one payment's money.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Authorized and neither captured nor voided.
    pub authorized_open: Money,
    /// Captured in total.
    pub captured: Money,
    /// Refunded in total.
    pub refunded: Money,
    /// Paid out to resellers in total.
    pub paid_out: Money,
    /// Whether an authorization was voided.
    pub voided: bool,
}

impl Ledger {
    /// Captured money still with the merchant.
    pub fn kept(&self) -> Money {
        Money(self.captured.0 - self.refunded.0 - self.paid_out.0)
    }
}

/// A payment gateway outside our control, scripted by the test.
#[derive(Default)]
pub struct Gateway {
    pub script: BTreeMap<(PaymentId, CallKind), VecDeque<Scripted>>,
    pub ledgers: BTreeMap<PaymentId, Ledger>,
    /// Payouts received, per customer.
    pub payouts: BTreeMap<CustomerId, Money>,
    /// Every key the gateway acted on, with its outcome.
    pub done: BTreeMap<GatewayKey, GatewayOutcome>,
    /// Calls held by a `Hold` script.
    pub held: Vec<GatewayCall>,
    /// Every call received, in order.
    pub calls: Vec<GatewayCall>,
    /// Things a real gateway would refuse (a core bug if any).
    pub violations: Vec<String>,
}

impl Gateway {
    /// The next script step for `call` (Approve when none is scripted).
    fn next(&mut self, call: &GatewayCall) -> Scripted {
        let kind = CallKind::of(call.key.operation);
        self.script
            .get_mut(&(call.key.payment, kind))
            .and_then(VecDeque::pop_front)
            .unwrap_or(Scripted::Approve)
    }

    /// Move the money of `call` unless its key already moved it.
    fn perform(&mut self, call: &GatewayCall) -> GatewayOutcome {
        if let Some(outcome) = self.done.get(&call.key) {
            return *outcome;
        }
        let ledger = self.ledgers.entry(call.key.payment).or_default();
        let mut violation = None;
        match call.request {
            GatewayRequest::Authorize { amount, .. } => {
                ledger.authorized_open = Money(ledger.authorized_open.0 + amount.0);
            }
            GatewayRequest::Capture { amount } => {
                if amount > ledger.authorized_open {
                    violation = Some(format!("capture {amount:?} beyond authorization"));
                }
                ledger.authorized_open = Money(ledger.authorized_open.0.saturating_sub(amount.0));
                ledger.captured = Money(ledger.captured.0 + amount.0);
            }
            GatewayRequest::Void => {
                if ledger.authorized_open == Money::ZERO {
                    violation = Some("void with nothing authorized".to_owned());
                }
                ledger.authorized_open = Money::ZERO;
                ledger.voided = true;
            }
            GatewayRequest::Refund { amount } => {
                if amount > ledger.kept() {
                    violation = Some(format!("refund {amount:?} beyond {:?} kept", ledger.kept()));
                }
                ledger.refunded = Money(ledger.refunded.0 + amount.0);
            }
            GatewayRequest::Payout { amount, to } => {
                if amount > ledger.kept() {
                    violation = Some(format!("payout {amount:?} beyond {:?} kept", ledger.kept()));
                }
                ledger.paid_out = Money(ledger.paid_out.0 + amount.0);
                let received = self.payouts.entry(to).or_default();
                *received = Money(received.0 + amount.0);
            }
            GatewayRequest::Status => unreachable!("status queries move no money"),
        }
        if let Some(violation) = violation {
            self.violations.push(format!("{:?}: {violation}", call.key));
        }
        self.done.insert(call.key, GatewayOutcome::Approved);
        GatewayOutcome::Approved
    }

    /// The ledger of one payment.
    pub fn ledger(&self, payment: PaymentId) -> Ledger {
        self.ledgers.get(&payment).copied().unwrap_or_default()
    }

    /// Calls of one kind received for one payment, status queries excluded.
    pub fn calls_of(&self, payment: PaymentId, kind: CallKind) -> usize {
        self.calls
            .iter()
            .filter(|call| {
                call.key.payment == payment
                    && CallKind::of(call.key.operation) == kind
                    && call.request != GatewayRequest::Status
            })
            .count()
    }
}

/// One message in flight, with the actor its receiver stamps.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub message: Message,
    pub actor: Actor,
    /// A duplicate made by the world (never duplicated again).
    pub copy: bool,
}

/// A rule that parks matching deliveries instead of delivering them.
pub type ParkRule = Box<dyn Fn(&Message) -> bool>;

/// Everything, in memory.
pub struct MiniWorld {
    pub now: Timestamp,
    pub catalog: ShowCatalog,
    pub shows: BTreeMap<ShowId, Stream<Show>>,
    pub inventories: BTreeMap<SectionKey, Stream<Inventory>>,
    pub orders: BTreeMap<OrderId, Stream<Order>>,
    pub payments: BTreeMap<PaymentId, Stream<Payment>>,
    pub tickets: BTreeMap<TicketId, Stream<Ticket>>,
    pub resales: BTreeMap<ResaleId, Stream<Resale>>,
    pub queue: VecDeque<Delivery>,
    pub parked: Vec<Delivery>,
    pub park: Option<ParkRule>,
    pub timers: BTreeMap<Timer, Timestamp>,
    pub gateway: Gateway,
    /// Every event published, in the order appended.
    pub published: Vec<Published>,
    /// The read models, fed in order.
    pub read_models: ReadModels,
    /// Deliver every message a second time, at the back of the queue.
    pub duplicate: bool,
    /// Every message refused by its receiver, for failure messages.
    pub refusals: Vec<String>,
    /// When set, deliver queued messages in an order drawn from this state (and
    /// duplicate one in four) instead of first in, first out.
    pub chaos: Option<u64>,
    next_client_id: u64,
    next_reply: u64,
}

/// Messages delivered in one `settle` before the world calls it a livelock.
const DELIVERIES_MAX: u64 = 100_000;

impl Default for MiniWorld {
    fn default() -> Self {
        MiniWorld::new()
    }
}

impl MiniWorld {
    /// An empty world at `T0`.
    pub fn new() -> MiniWorld {
        MiniWorld {
            now: T0,
            catalog: ShowCatalog::new(),
            shows: BTreeMap::new(),
            inventories: BTreeMap::new(),
            orders: BTreeMap::new(),
            payments: BTreeMap::new(),
            tickets: BTreeMap::new(),
            resales: BTreeMap::new(),
            queue: VecDeque::new(),
            parked: Vec::new(),
            park: None,
            timers: BTreeMap::new(),
            gateway: Gateway::default(),
            published: Vec::new(),
            read_models: ReadModels::new(),
            duplicate: false,
            refusals: Vec::new(),
            chaos: None,
            next_client_id: 1,
            next_reply: 1,
        }
    }

    /// A world with show 1 created by `ORGANIZER`, starting at `start_at`, with these
    /// sections, published and on sale, everything settled.
    pub fn with_show(start_at: Timestamp, sections: Vec<SectionSpec>) -> MiniWorld {
        let mut world = MiniWorld::new();
        world
            .show_command(
                ShowId(1),
                ShowCommand::Create {
                    show: ShowId(1),
                    name: "The Show".to_owned(),
                    start_at,
                    sections,
                },
            )
            .expect("create");
        world
            .show_command(ShowId(1), ShowCommand::Publish)
            .expect("publish");
        world
            .show_command(ShowId(1), ShowCommand::OpenSales)
            .expect("open sales");
        world.settle();
        world
    }

    fn client_id(&mut self) -> CommandId {
        let id = CommandId(self.next_client_id);
        self.next_client_id += 1;
        id
    }

    // ----- clients -----------------------------------------------------------------

    /// The organizer sends a show command.
    pub fn show_command(&mut self, show: ShowId, body: ShowCommand) -> Result<(), ShowError> {
        let id = self.client_id();
        let envelope = Envelope::new(id, Actor::Organizer(ORGANIZER), self.now, body);
        self.handle_show(show, &envelope).map(|_| ())
    }

    /// `customer` starts order `order` for `quantity` seats of section 0 of show 1.
    pub fn initiate(
        &mut self,
        customer: CustomerId,
        order: OrderId,
        quantity: u32,
        seats: Option<Vec<String>>,
    ) -> Result<(), order::OrderError> {
        self.order_command(
            customer,
            order,
            OrderCommand::Initiate {
                order,
                show: ShowId(1),
                section: SectionIndex(0),
                quantity,
                seats,
            },
        )
    }

    /// `customer` pays for `order`.
    pub fn pay(&mut self, customer: CustomerId, order: OrderId) -> Result<(), order::OrderError> {
        self.order_command(
            customer,
            order,
            OrderCommand::Pay {
                method: PaymentMethod { token: 42 },
            },
        )
    }

    /// `customer` sends `body` to `order`.
    pub fn order_command(
        &mut self,
        customer: CustomerId,
        order: OrderId,
        body: OrderCommand,
    ) -> Result<(), order::OrderError> {
        let id = self.client_id();
        let envelope = Envelope::new(id, Actor::Customer(customer), self.now, body);
        let stream = self.orders.entry(order).or_default();
        match run(stream, &self.catalog, &envelope) {
            Done::New(event, effects, version) => {
                self.after_event(publish(StreamId::Order(order), version, &event), effects);
                Ok(())
            }
            Done::Repeat(_) | Done::Ignored => Ok(()),
            Done::Refused(error) => Err(error),
        }
    }

    /// `customer` sends `body` to `ticket`.
    pub fn ticket_command(
        &mut self,
        customer: CustomerId,
        ticket: TicketId,
        body: TicketCommand,
    ) -> Result<(), TicketError> {
        let id = self.client_id();
        let envelope = Envelope::new(id, Actor::Customer(customer), self.now, body);
        self.handle_ticket(ticket, &envelope).map(|_| ())
    }

    /// `buyer` starts resale purchase `resale` of `ticket` at `price`.
    pub fn buy_resale(
        &mut self,
        buyer: CustomerId,
        resale: ResaleId,
        ticket: TicketId,
        price: Money,
    ) -> Result<(), ResaleError> {
        let id = self.client_id();
        let envelope = Envelope::new(
            id,
            Actor::Customer(buyer),
            self.now,
            ResaleCommand::Buy {
                resale,
                ticket,
                price,
                method: PaymentMethod { token: 43 },
            },
        );
        self.handle_resale(resale, &envelope).map(|_| ())
    }

    // ----- time --------------------------------------------------------------------

    /// Move the clock forward by `ms` (timers do not fire by themselves).
    pub fn advance(&mut self, ms: u64) {
        self.now = self.now.plus(ms);
    }

    /// Fire every armed timer that is due, earliest first, then settle.
    pub fn fire_due_timers(&mut self) {
        let mut due: Vec<(Timestamp, Timer)> = self
            .timers
            .iter()
            .filter(|(_, at)| **at <= self.now)
            .map(|(timer, at)| (*at, *timer))
            .collect();
        due.sort();
        for (at, timer) in due {
            self.timers.remove(&timer);
            self.queue.push_back(Delivery {
                message: timer.command(at),
                actor: Actor::System,
                copy: false,
            });
        }
        self.settle();
    }

    /// Advance by `ms`, fire what is due and settle.
    pub fn advance_and_fire(&mut self, ms: u64) {
        self.advance(ms);
        self.fire_due_timers();
    }

    // ----- delivery ----------------------------------------------------------------

    /// Inject a message as if one of our services sent it.
    pub fn inject(&mut self, message: Message) {
        self.queue.push_back(Delivery {
            message,
            actor: Actor::Service,
            copy: false,
        });
    }

    /// Put every parked delivery back at the front of the queue, in parked order.
    pub fn unpark_all(&mut self) {
        for delivery in self.parked.drain(..).rev() {
            self.queue.push_front(delivery);
        }
    }

    /// Deliver until the queue is empty.
    pub fn settle(&mut self) {
        let mut delivered = 0;
        loop {
            let next = match self.chaos.as_mut() {
                Some(state) if !self.queue.is_empty() => {
                    let index = (splitmix(state) % self.queue.len() as u64) as usize;
                    self.queue.remove(index)
                }
                _ => self.queue.pop_front(),
            };
            let Some(delivery) = next else { break };
            if self
                .park
                .as_ref()
                .is_some_and(|rule| rule(&delivery.message))
            {
                self.parked.push(delivery);
                continue;
            }
            let chaotic_copy = match self.chaos.as_mut() {
                Some(state) => splitmix(state).is_multiple_of(4),
                None => false,
            };
            if (self.duplicate || chaotic_copy) && !delivery.copy {
                self.queue.push_back(Delivery {
                    copy: true,
                    ..delivery.clone()
                });
            }
            self.deliver(delivery);
            delivered += 1;
            assert!(delivered < DELIVERIES_MAX, "the world does not settle");
        }
    }

    /// Answer every held gateway call with `answer` and settle.
    pub fn release_gateway(&mut self, answer: Scripted) {
        let held = std::mem::take(&mut self.gateway.held);
        for call in held {
            self.answer_call(call, answer);
        }
        self.settle();
    }

    fn reply_id(&mut self) -> CommandId {
        let id = CommandId::derive(&[0xFA7E, self.next_reply]);
        self.next_reply += 1;
        id
    }

    fn reply(&mut self, key: GatewayKey, outcome: GatewayOutcome) {
        let id = self.reply_id();
        self.queue.push_back(Delivery {
            message: Message::Payment {
                payment: key.payment,
                id,
                body: PaymentCommand::GatewayReplied { key, outcome },
            },
            actor: Actor::Service,
            copy: false,
        });
    }

    fn gateway_call(&mut self, call: GatewayCall) {
        self.gateway.calls.push(call);
        if call.request == GatewayRequest::Status {
            let outcome = self
                .gateway
                .done
                .get(&call.key)
                .copied()
                .unwrap_or(GatewayOutcome::NotFound);
            self.reply(call.key, outcome);
            return;
        }
        let answer = self.gateway.next(&call);
        self.answer_call(call, answer);
    }

    fn answer_call(&mut self, call: GatewayCall, answer: Scripted) {
        match answer {
            Scripted::Approve => {
                let outcome = self.gateway.perform(&call);
                self.reply(call.key, outcome);
            }
            Scripted::ApproveTwice => {
                let outcome = self.gateway.perform(&call);
                self.reply(call.key, outcome);
                self.reply(call.key, outcome);
            }
            Scripted::Decline => {
                self.gateway
                    .done
                    .entry(call.key)
                    .or_insert(GatewayOutcome::Declined);
                let outcome = self.gateway.done[&call.key];
                self.reply(call.key, outcome);
            }
            Scripted::TimeoutAfterDoing => {
                self.gateway.perform(&call);
                self.reply(call.key, GatewayOutcome::Unknown);
            }
            Scripted::TimeoutLost => self.reply(call.key, GatewayOutcome::Unknown),
            Scripted::Hold => self.gateway.held.push(call),
        }
    }

    fn deliver(&mut self, delivery: Delivery) {
        let Delivery { message, actor, .. } = delivery;
        let now = self.now;
        match message {
            Message::Show { show, id, body } => {
                let _ = self.handle_show(show, &Envelope::new(id, actor, now, body));
            }
            Message::Inventory { section, id, body } => {
                let envelope = Envelope::new(id, actor, now, body);
                let stream = self.inventories.entry(section).or_default();
                let (answer, published, effects) = match run(stream, &(), &envelope) {
                    Done::New(event, effects, version) => (
                        order::input_from_inventory(id, &envelope.body, Ok(&event.event)),
                        Some(publish(StreamId::Inventory(section), version, &event)),
                        effects,
                    ),
                    Done::Repeat(event) => (
                        order::input_from_inventory(id, &envelope.body, Ok(&event.event)),
                        None,
                        Vec::new(),
                    ),
                    Done::Ignored => (None, None, Vec::new()),
                    Done::Refused(error) => {
                        self.refusals.push(format!(
                            "inventory {section:?}: {:?} → {error:?}",
                            envelope.body
                        ));
                        (
                            order::input_from_inventory(id, &envelope.body, Err(&error)),
                            None,
                            Vec::new(),
                        )
                    }
                };
                if let Some(published) = published {
                    self.after_event(published, effects);
                }
                if let Some(answer) = answer {
                    self.inject(answer);
                }
            }
            Message::Order { order, id, body } => {
                let envelope = Envelope::new(id, actor, now, body);
                let stream = self.orders.entry(order).or_default();
                match run(stream, &self.catalog, &envelope) {
                    Done::New(event, effects, version) => {
                        self.after_event(publish(StreamId::Order(order), version, &event), effects);
                    }
                    Done::Repeat(_) | Done::Ignored => {}
                    Done::Refused(error) => self
                        .refusals
                        .push(format!("order {order:?}: {:?} → {error:?}", envelope.body)),
                }
            }
            Message::Payment { payment, id, body } => {
                let envelope = Envelope::new(id, actor, now, body);
                let stream = self.payments.entry(payment).or_default();
                match run(stream, &(), &envelope) {
                    Done::New(event, effects, version) => {
                        self.after_event(
                            publish(StreamId::Payment(payment), version, &event),
                            effects,
                        );
                    }
                    Done::Repeat(_) | Done::Ignored => {}
                    Done::Refused(error) => {
                        self.refusals.push(format!(
                            "payment {payment:?}: {:?} → {error:?}",
                            envelope.body
                        ));
                        let answer = match payment {
                            PaymentId::Order(order) => order::input_from_payment_rejection(
                                order,
                                id,
                                &envelope.body,
                                &error,
                            ),
                            PaymentId::Resale(resale) => resale::input_from_payment_rejection(
                                resale,
                                id,
                                &envelope.body,
                                &error,
                            ),
                        };
                        if let Some(answer) = answer {
                            self.inject(answer);
                        }
                    }
                }
            }
            Message::Ticket { ticket, id, body } => {
                let envelope = Envelope::new(id, actor, now, body);
                let _ = self.handle_ticket(ticket, &envelope);
            }
            Message::Resale { resale, id, body } => {
                let envelope = Envelope::new(id, actor, now, body);
                let _ = self.handle_resale(resale, &envelope);
            }
        }
    }

    fn handle_show(
        &mut self,
        show: ShowId,
        envelope: &Envelope<ShowCommand>,
    ) -> Result<(), ShowError> {
        let stream = self.shows.entry(show).or_default();
        match run(stream, &(), envelope) {
            Done::New(event, effects, version) => {
                self.after_event(publish(StreamId::Show(show), version, &event), effects);
                Ok(())
            }
            Done::Repeat(_) | Done::Ignored => Ok(()),
            Done::Refused(error) => {
                self.refusals
                    .push(format!("show {show:?}: {:?} → {error:?}", envelope.body));
                Err(error)
            }
        }
    }

    fn handle_ticket(
        &mut self,
        ticket: TicketId,
        envelope: &Envelope<TicketCommand>,
    ) -> Result<(), TicketError> {
        let stream = self.tickets.entry(ticket).or_default();
        let (result, answer, published, effects) = match run(stream, &self.catalog, envelope) {
            Done::New(event, effects, version) => (
                Ok(()),
                resale::input_from_ticket(envelope.id, &envelope.body, Ok(&event.event)),
                Some(publish(StreamId::Ticket(ticket), version, &event)),
                effects,
            ),
            Done::Repeat(event) => (
                Ok(()),
                resale::input_from_ticket(envelope.id, &envelope.body, Ok(&event.event)),
                None,
                Vec::new(),
            ),
            Done::Ignored => (Ok(()), None, None, Vec::new()),
            Done::Refused(error) => {
                self.refusals.push(format!(
                    "ticket {ticket:?}: {:?} → {error:?}",
                    envelope.body
                ));
                (
                    Err(error.clone()),
                    resale::input_from_ticket(envelope.id, &envelope.body, Err(&error)),
                    None,
                    Vec::new(),
                )
            }
        };
        if let Some(published) = published {
            self.after_event(published, effects);
        }
        if let Some(answer) = answer {
            self.inject(answer);
        }
        result
    }

    fn handle_resale(
        &mut self,
        resale: ResaleId,
        envelope: &Envelope<ResaleCommand>,
    ) -> Result<(), ResaleError> {
        let stream = self.resales.entry(resale).or_default();
        match run(stream, &(), envelope) {
            Done::New(event, effects, version) => {
                self.after_event(publish(StreamId::Resale(resale), version, &event), effects);
                Ok(())
            }
            Done::Repeat(_) | Done::Ignored => Ok(()),
            Done::Refused(error) => {
                self.refusals.push(format!(
                    "resale {resale:?}: {:?} → {error:?}",
                    envelope.body
                ));
                Err(error)
            }
        }
    }

    fn after_event(&mut self, published: Published, effects: Vec<Effect>) {
        self.read_models.observe(published.clone());
        self.published.push(published);
        for effect in effects {
            match effect {
                Effect::Send(message) => self.inject(message),
                Effect::Gateway(call) => self.gateway_call(call),
                Effect::Arm(armed) => {
                    self.timers.insert(armed.timer, armed.at);
                }
                Effect::Disarm(timer) => {
                    self.timers.remove(&timer);
                }
                Effect::Notify(Notice::ShowTerms(terms)) => self.catalog.observe(terms),
                Effect::Notify(Notice::ShowCancelled(show)) => {
                    let orders: Vec<OrderId> = self
                        .orders
                        .iter()
                        .filter(|(_, stream)| {
                            stream.state().is_open() && stream.state().show() == Some(show)
                        })
                        .map(|(order, _)| *order)
                        .collect();
                    for order in orders {
                        self.inject(order::show_cancelled_message(show, order));
                    }
                    let tickets: Vec<TicketId> = self
                        .tickets
                        .iter()
                        .filter(|(_, stream)| {
                            stream.state().details.as_ref().is_some_and(|details| {
                                details.section.show == show
                                    && details.status == TicketStatus::Valid
                            })
                        })
                        .map(|(ticket, _)| *ticket)
                        .collect();
                    for ticket in tickets {
                        self.inject(ticket::show_cancelled_message(ticket));
                    }
                }
            }
        }
    }

    // ----- what users see ----------------------------------------------------------

    /// The status of `order`.
    pub fn order_status(&self, order: OrderId) -> Option<OrderStatus> {
        self.orders
            .get(&order)
            .and_then(|stream| stream.state().status())
    }

    /// The inventory of section `section` of show 1.
    pub fn inventory(&self, section: u32) -> &Inventory {
        self.inventories
            .get(&SectionKey {
                show: ShowId(1),
                section: SectionIndex(section),
            })
            .expect("the section exists")
            .state()
    }

    /// Valid tickets of `order`, with their owners.
    pub fn valid_tickets(&self, order: OrderId) -> Vec<(TicketId, CustomerId)> {
        self.tickets
            .iter()
            .filter(|(ticket, _)| ticket.order == order)
            .filter_map(|(ticket, stream)| {
                let details = stream.state().details.as_ref()?;
                (details.status == TicketStatus::Valid).then_some((*ticket, details.owner))
            })
            .collect()
    }

    /// The gateway's ledger for `order`'s payment.
    pub fn ledger(&self, order: OrderId) -> Ledger {
        self.gateway.ledger(PaymentId::Order(order))
    }

    /// Whether nothing is left to do: no message queued or parked, no call held, no
    /// timer that a quiet system would still wait for.
    pub fn is_quiet(&self) -> bool {
        self.queue.is_empty()
            && self.parked.is_empty()
            && self.gateway.held.is_empty()
            && self.timers.keys().all(|timer| !timer.counts_for_liveness())
    }

    /// Let every timer run out: advance past all of them and fire, until none is left.
    pub fn run_out_timers(&mut self) {
        for _ in 0..16 {
            let Some(latest) = self
                .timers
                .iter()
                .filter(|(timer, _)| timer.counts_for_liveness())
                .map(|(_, at)| *at)
                .max()
            else {
                return;
            };
            if latest > self.now {
                self.now = latest;
            }
            self.fire_due_timers();
        }
    }
}

/// What handling one command did, owned (the core's host lends its log).
enum Done<E, X> {
    /// A new event, its effects and the stream's version after it.
    New(Recorded<E>, Vec<Effect>, u64),
    /// A repeat of the event at its version.
    Repeat(Recorded<E>),
    /// Acknowledged.
    Ignored,
    /// Refused.
    Refused(X),
}

/// Decide, append and apply one command on `stream`.
fn run<A: Aggregate>(
    stream: &mut Stream<A>,
    context: &A::Context,
    envelope: &Envelope<A::Command>,
) -> Done<A::Event, A::Error> {
    let done = match stream.handle(context, envelope) {
        Ok(Handled::New { event, effects }) => Done::New(event.clone(), effects.to_vec(), 0),
        Ok(Handled::Repeat { event }) => Done::Repeat(event.clone()),
        Ok(Handled::Ignored) => Done::Ignored,
        Err(error) => Done::Refused(error),
    };
    match done {
        Done::New(event, effects, _) => Done::New(event, effects, stream.state().version()),
        other => other,
    }
}

/// Wrap a recorded event for the read models.
fn publish<E: Clone + IntoDomain>(
    stream: StreamId,
    version: u64,
    event: &Recorded<E>,
) -> Published {
    Published {
        stream,
        version,
        event: E::into_domain(event.clone()),
    }
}

/// Any aggregate's event as a `DomainEvent`.
pub trait IntoDomain: Sized {
    fn into_domain(event: Recorded<Self>) -> DomainEvent;
}

macro_rules! into_domain {
    ($($event:ty => $variant:ident),*) => {$(
        impl IntoDomain for $event {
            fn into_domain(event: Recorded<Self>) -> DomainEvent {
                DomainEvent::$variant(event)
            }
        }
    )*};
}

into_domain! {
    turnstile_core::show::ShowEvent => Show,
    turnstile_core::inventory::InventoryEvent => Inventory,
    turnstile_core::order::OrderEvent => Order,
    turnstile_core::payment::PaymentEvent => Payment,
    turnstile_core::ticket::TicketEvent => Ticket,
    turnstile_core::ticket::resale::ResaleEvent => Resale
}

/// splitmix64: the world's only source of arbitrary choices, seeded by the test.
pub fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl MiniWorld {
    /// The timers a restarted world would arm: every stream rebuilt from its log alone,
    /// asked for its timers. Also checks that each rebuilt state equals the live one.
    pub fn timers_after_restart(&self) -> BTreeMap<Timer, Timestamp> {
        fn rebuilt<A: Aggregate + PartialEq + std::fmt::Debug>(
            streams: &BTreeMap<impl Ord + std::fmt::Debug, Stream<A>>,
            timers: &mut BTreeMap<Timer, Timestamp>,
        ) {
            for (id, stream) in streams {
                let state = Stream::<A>::replay(stream.log());
                assert_eq!(
                    &state,
                    stream.state(),
                    "{id:?} rebuilt from its log differs"
                );
                for armed in state.timers() {
                    timers.insert(armed.timer, armed.at);
                }
            }
        }
        let mut timers = BTreeMap::new();
        rebuilt(&self.shows, &mut timers);
        rebuilt(&self.inventories, &mut timers);
        rebuilt(&self.orders, &mut timers);
        rebuilt(&self.payments, &mut timers);
        rebuilt(&self.tickets, &mut timers);
        rebuilt(&self.resales, &mut timers);
        timers
    }

    /// Replay holds: every stream rebuilt from its log equals its live state and would
    /// arm exactly the timers armed now; the read models folded from the events in
    /// reverse, each delivered twice, equal those folded in order, whose seat counts
    /// equal every inventory's.
    #[track_caller]
    pub fn check_replay(&self) {
        assert_eq!(
            self.timers_after_restart(),
            self.timers,
            "a restart would arm other timers"
        );
        let mut reversed = ReadModels::new();
        for published in self.published.iter().rev() {
            reversed.observe(published.clone());
            reversed.observe(published.clone());
        }
        let in_order = &self.read_models;
        assert_eq!(in_order.available_seats, reversed.available_seats);
        assert_eq!(in_order.sales, reversed.sales);
        assert_eq!(in_order.customer_history, reversed.customer_history);
        assert_eq!(in_order.venue_layout, reversed.venue_layout);
        for (key, inventory) in &self.inventories {
            assert_eq!(
                in_order.available_seats.section(*key),
                Some(inventory.state().counts()),
                "{key:?}"
            );
        }
    }
}
