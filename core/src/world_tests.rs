//! A tiny deterministic world hosting every aggregate in-process, to pin down that the
//! aggregates, their effects and the saga translations fit together end to end.
//!
//! Messages are delivered in FIFO order, the gateway approves unless told otherwise,
//! timers fire only when a test advances time. After each scenario every stream is
//! rebuilt from its log and compared with the live state.

use crate::host::{Handled, Stream};
use crate::inventory::{Inventory, InventoryCommand, SalesPhase};
use crate::order::{Order, OrderCommand, OrderStatus};
use crate::payment::{
    GatewayCall, GatewayOutcome, GatewayRequest, Operation, Payment, PaymentCommand, PaymentMethod,
    PaymentStatus,
};
use crate::read_models::{DomainEvent, Published, ReadModels, StreamId};
use crate::show::{SectionKind, SectionSpec, Show, ShowCatalog, ShowCommand};
use crate::ticket::resale::{Resale, ResaleCommand, ResaleStatus};
use crate::ticket::{Ticket, TicketCommand, TicketStatus};
use crate::time::{DAY_MS, MINUTE_MS};
use crate::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

const ORGANIZER: OrganizerId = OrganizerId(7);
const SHOW: ShowId = ShowId(1);
const ALICE: CustomerId = CustomerId(100);
const BOB: CustomerId = CustomerId(200);
const CARD: PaymentMethod = PaymentMethod { token: 42 };

#[derive(Default)]
struct Gateway {
    decline_authorize: BTreeSet<PaymentId>,
    decline_capture: BTreeSet<PaymentId>,
    /// Answer `Unknown` to the first call for these payments.
    unknown_once: BTreeSet<PaymentId>,
    /// Hold every call of these payments until released.
    held: BTreeSet<PaymentId>,
    /// Hold capture calls of these payments until released.
    held_capture: BTreeSet<PaymentId>,
    parked: Vec<GatewayCall>,
    done: BTreeMap<GatewayKey, GatewayOutcome>,
    /// Money moved per payment: (authorized, captured, refunded, paid out, voided).
    ledger: BTreeMap<PaymentId, [u64; 5]>,
}

use crate::payment::GatewayKey;

#[derive(Default)]
struct World {
    now: Timestamp,
    next_id: u64,
    catalog: ShowCatalog,
    shows: BTreeMap<ShowId, Stream<Show>>,
    inventories: BTreeMap<SectionKey, Stream<Inventory>>,
    orders: BTreeMap<OrderId, Stream<Order>>,
    payments: BTreeMap<PaymentId, Stream<Payment>>,
    tickets: BTreeMap<TicketId, Stream<Ticket>>,
    resales: BTreeMap<ResaleId, Stream<Resale>>,
    queue: VecDeque<(Actor, Message)>,
    /// Messages matching this are parked instead of delivered.
    hold: Option<fn(&Message) -> bool>,
    parked: Vec<(Actor, Message)>,
    calls: VecDeque<GatewayCall>,
    timers: BTreeMap<Timer, Timestamp>,
    gateway: Gateway,
    published: Vec<Published>,
}

impl World {
    fn new() -> World {
        World {
            now: Timestamp(1_000 * DAY_MS),
            next_id: 1,
            ..World::default()
        }
    }

    fn id(&mut self) -> CommandId {
        self.next_id += 1;
        CommandId(self.next_id)
    }

    fn effects(&mut self, effects: Effects) {
        for effect in effects {
            match effect {
                Effect::Send(message) => self.queue.push_back((Actor::Service, message)),
                Effect::Gateway(call) => self.calls.push_back(call),
                Effect::Arm(armed) => {
                    self.timers.insert(armed.timer, armed.at);
                }
                Effect::Disarm(timer) => {
                    self.timers.remove(&timer);
                }
                Effect::Notify(Notice::ShowTerms(terms)) => self.catalog.observe(terms),
                Effect::Notify(Notice::ShowCancelled(show)) => {
                    for (id, order) in &self.orders {
                        if order.state().is_open() && order.state().show() == Some(show) {
                            let message = order::show_cancelled_message(show, *id);
                            self.queue.push_back((Actor::Service, message));
                        }
                    }
                    for (id, ticket) in &self.tickets {
                        if ticket.state().status() == Some(TicketStatus::Valid)
                            && ticket.state().details.as_ref().map(|t| t.section.show) == Some(show)
                        {
                            self.queue
                                .push_back((Actor::Service, ticket::show_cancelled_message(*id)));
                        }
                    }
                }
            }
        }
    }

    fn publish(&mut self, stream: StreamId, version: u64, event: DomainEvent) {
        self.published.push(Published {
            stream,
            version,
            event,
        });
    }

    fn deliver(&mut self, actor: Actor, message: Message) {
        let now = self.now;
        match message {
            Message::Show { show, id, body } => {
                let _ = self.show(show, id, actor, body);
            }
            Message::Inventory { section, id, body } => {
                let stream = self.inventories.entry(section).or_default();
                let command = Envelope::new(id, actor, now, body.clone());
                let (answer, effects, new) = match stream.handle(&(), &command) {
                    Ok(Handled::New { event, effects }) => (
                        order::input_from_inventory(id, &body, Ok(&event.event)),
                        effects,
                        Some(event.clone()),
                    ),
                    Ok(Handled::Repeat { event }) => (
                        order::input_from_inventory(id, &body, Ok(&event.event)),
                        Effects::new(),
                        None,
                    ),
                    Ok(Handled::Ignored) => (None, Effects::new(), None),
                    Err(error) => (
                        order::input_from_inventory(id, &body, Err(&error)),
                        Effects::new(),
                        None,
                    ),
                };
                if let Some(event) = new {
                    let version = self.inventories[&section].state().version();
                    self.publish(
                        StreamId::Inventory(section),
                        version,
                        DomainEvent::Inventory(event),
                    );
                }
                self.effects(effects);
                if let Some(answer) = answer {
                    self.queue.push_back((Actor::Service, answer));
                }
            }
            Message::Order { order, id, body } => {
                let _ = self.order(order, id, actor, body);
            }
            Message::Payment { payment, id, body } => {
                let stream = self.payments.entry(payment).or_default();
                let command = Envelope::new(id, actor, now, body.clone());
                match stream.handle(&(), &command) {
                    Ok(Handled::New { event, effects }) => {
                        let event = event.clone();
                        let version = stream.state().version();
                        self.publish(
                            StreamId::Payment(payment),
                            version,
                            DomainEvent::Payment(event),
                        );
                        self.effects(effects);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        let answer = match payment {
                            PaymentId::Order(o) => {
                                order::input_from_payment_rejection(o, id, &body, &error)
                            }
                            PaymentId::Resale(r) => {
                                ticket::resale::input_from_payment_rejection(r, id, &body, &error)
                            }
                        };
                        if let Some(answer) = answer {
                            self.queue.push_back((Actor::Service, answer));
                        }
                    }
                }
            }
            Message::Ticket { ticket, id, body } => {
                let stream = self.tickets.entry(ticket).or_default();
                let command = Envelope::new(id, actor, now, body.clone());
                let (answer, effects, new) = match stream.handle(&self.catalog, &command) {
                    Ok(Handled::New { event, effects }) => (
                        ticket::resale::input_from_ticket(id, &body, Ok(&event.event)),
                        effects,
                        Some(event.clone()),
                    ),
                    Ok(Handled::Repeat { event }) => (
                        ticket::resale::input_from_ticket(id, &body, Ok(&event.event)),
                        Effects::new(),
                        None,
                    ),
                    Ok(Handled::Ignored) => (None, Effects::new(), None),
                    Err(error) => (
                        ticket::resale::input_from_ticket(id, &body, Err(&error)),
                        Effects::new(),
                        None,
                    ),
                };
                if let Some(event) = new {
                    let version = self.tickets[&ticket].state().version();
                    self.publish(
                        StreamId::Ticket(ticket),
                        version,
                        DomainEvent::Ticket(event),
                    );
                }
                self.effects(effects);
                if let Some(answer) = answer {
                    self.queue.push_back((Actor::Service, answer));
                }
            }
            Message::Resale { resale, id, body } => {
                let _ = self.resale(resale, id, actor, body);
            }
        }
    }

    fn show(
        &mut self,
        show: ShowId,
        id: CommandId,
        actor: Actor,
        body: ShowCommand,
    ) -> Result<(), show::ShowError> {
        let command = Envelope::new(id, actor, self.now, body);
        let stream = self.shows.entry(show).or_default();
        if let Handled::New { event, effects } = stream.handle(&(), &command)? {
            let event = event.clone();
            let version = stream.state().version();
            self.publish(StreamId::Show(show), version, DomainEvent::Show(event));
            self.effects(effects);
        }
        Ok(())
    }

    fn order(
        &mut self,
        order: OrderId,
        id: CommandId,
        actor: Actor,
        body: OrderCommand,
    ) -> Result<(), order::OrderError> {
        let command = Envelope::new(id, actor, self.now, body);
        let stream = self.orders.entry(order).or_default();
        if let Handled::New { event, effects } = stream.handle(&self.catalog, &command)? {
            let event = event.clone();
            let version = stream.state().version();
            self.publish(StreamId::Order(order), version, DomainEvent::Order(event));
            self.effects(effects);
        }
        Ok(())
    }

    fn resale(
        &mut self,
        resale: ResaleId,
        id: CommandId,
        actor: Actor,
        body: ResaleCommand,
    ) -> Result<(), ticket::resale::ResaleError> {
        let command = Envelope::new(id, actor, self.now, body);
        let stream = self.resales.entry(resale).or_default();
        if let Handled::New { event, effects } = stream.handle(&(), &command)? {
            let event = event.clone();
            let version = stream.state().version();
            self.publish(
                StreamId::Resale(resale),
                version,
                DomainEvent::Resale(event),
            );
            self.effects(effects);
        }
        Ok(())
    }

    fn ticket_command(
        &mut self,
        ticket: TicketId,
        actor: Actor,
        body: TicketCommand,
    ) -> Result<(), ticket::TicketError> {
        let id = self.id();
        let command = Envelope::new(id, actor, self.now, body);
        let stream = self.tickets.entry(ticket).or_default();
        if let Handled::New { event, effects } = stream.handle(&self.catalog, &command)? {
            let event = event.clone();
            let version = stream.state().version();
            self.publish(
                StreamId::Ticket(ticket),
                version,
                DomainEvent::Ticket(event),
            );
            self.effects(effects);
        }
        self.settle();
        Ok(())
    }

    fn gateway_call(&mut self, call: GatewayCall) {
        let gateway = &mut self.gateway;
        let payment = call.key.payment;
        let capture = call.key.operation == Operation::Capture;
        if call.request != GatewayRequest::Status
            && (gateway.held.contains(&payment)
                || capture && gateway.held_capture.contains(&payment))
        {
            gateway.parked.push(call);
            return;
        }
        let outcome = if call.request == GatewayRequest::Status {
            gateway
                .done
                .get(&call.key)
                .copied()
                .unwrap_or(GatewayOutcome::NotFound)
        } else if let Some(outcome) = gateway.done.get(&call.key) {
            *outcome // a retry with the same key never moves money twice
        } else {
            let outcome = match (call.request, call.key.operation) {
                (_, Operation::Authorize) if gateway.decline_authorize.contains(&payment) => {
                    GatewayOutcome::Declined
                }
                (_, Operation::Capture) if gateway.decline_capture.contains(&payment) => {
                    GatewayOutcome::Declined
                }
                _ => GatewayOutcome::Approved,
            };
            gateway.done.insert(call.key, outcome);
            if outcome == GatewayOutcome::Approved {
                let row = gateway.ledger.entry(payment).or_default();
                match call.request {
                    GatewayRequest::Authorize { amount, .. } => row[0] += amount.0,
                    GatewayRequest::Capture { amount } => row[1] += amount.0,
                    GatewayRequest::Refund { amount } => row[2] += amount.0,
                    GatewayRequest::Payout { amount, .. } => row[3] += amount.0,
                    GatewayRequest::Void => row[4] += 1,
                    GatewayRequest::Status => {}
                }
            }
            if gateway.unknown_once.remove(&payment) {
                GatewayOutcome::Unknown
            } else {
                outcome
            }
        };
        let id = self.id();
        let reply = PaymentCommand::GatewayReplied {
            key: call.key,
            outcome,
        };
        self.queue.push_back((
            Actor::Service,
            Message::Payment {
                payment,
                id,
                body: reply,
            },
        ));
    }

    /// Deliver everything in flight.
    fn settle(&mut self) {
        for _ in 0..100_000 {
            if let Some((actor, message)) = self.queue.pop_front() {
                if self.hold.is_some_and(|hold| hold(&message)) {
                    self.parked.push((actor, message));
                    continue;
                }
                self.deliver(actor, message);
            } else if let Some(call) = self.calls.pop_front() {
                self.gateway_call(call);
            } else {
                return;
            }
        }
        panic!("the world never went quiet");
    }

    /// Move time to `to`, firing due timers in deadline order, settling after each.
    fn advance(&mut self, to: Timestamp) {
        loop {
            let due = self
                .timers
                .iter()
                .filter(|(_, at)| **at <= to)
                .min_by_key(|(timer, at)| (**at, **timer));
            let Some((timer, at)) = due.map(|(timer, at)| (*timer, *at)) else {
                break;
            };
            self.timers.remove(&timer);
            self.now = self.now.max(at);
            let message = timer.command(at);
            self.deliver(Actor::System, message);
            self.settle();
        }
        self.now = self.now.max(to);
    }

    fn create_show(&mut self, start_in_ms: u64, rows: &[(&str, u32)], ga: u32) {
        let labels = rows
            .iter()
            .flat_map(|(row, len)| (1..=*len).map(move |seat| format!("{row}-{seat}")))
            .collect::<Vec<_>>();
        let sections = vec![
            SectionSpec {
                name: "Stalls".into(),
                kind: SectionKind::Numbered,
                capacity: labels.len() as u32,
                seat_labels: labels.into(),
                base_price: Money(10_000),
            },
            SectionSpec {
                name: "Floor".into(),
                kind: SectionKind::GeneralAdmission,
                capacity: ga,
                seat_labels: Default::default(),
                base_price: Money(5_000),
            },
        ];
        let start_at = self.now.plus(start_in_ms);
        let organizer = Actor::Organizer(ORGANIZER);
        for body in [
            ShowCommand::Create {
                show: SHOW,
                name: " Gala ".into(),
                start_at,
                sections,
            },
            ShowCommand::Publish,
            ShowCommand::OpenSales,
        ] {
            let id = self.id();
            self.show(SHOW, id, organizer, body).expect("show set up");
            self.settle();
        }
    }

    fn initiate(
        &mut self,
        order: u64,
        customer: CustomerId,
        section: u32,
        quantity: u32,
    ) -> Result<(), order::OrderError> {
        let id = self.id();
        let body = OrderCommand::Initiate {
            order: OrderId(order),
            show: SHOW,
            section: SectionIndex(section),
            quantity,
            seats: None,
        };
        let result = self.order(OrderId(order), id, Actor::Customer(customer), body);
        self.settle();
        result
    }

    fn pay(&mut self, order: u64, customer: CustomerId) -> Result<(), order::OrderError> {
        let id = self.id();
        let result = self.order(
            OrderId(order),
            id,
            Actor::Customer(customer),
            OrderCommand::Pay { method: CARD },
        );
        self.settle();
        result
    }

    /// Stop holding anything and deliver what was held.
    fn release_held(&mut self) {
        self.hold = None;
        self.gateway.held.clear();
        self.gateway.held_capture.clear();
        let parked = std::mem::take(&mut self.parked);
        self.queue.extend(parked);
        let calls = std::mem::take(&mut self.gateway.parked);
        self.calls.extend(calls);
        self.settle();
    }

    fn cancel_show(&mut self) -> Result<(), show::ShowError> {
        let id = self.id();
        let result = self.show(SHOW, id, Actor::Organizer(ORGANIZER), ShowCommand::Cancel);
        self.settle();
        result
    }

    fn status(&self, order: u64) -> OrderStatus {
        self.orders[&OrderId(order)]
            .state()
            .status()
            .expect("order exists")
    }

    fn section(&self, section: u32) -> &Inventory {
        self.inventories[&SectionKey {
            show: SHOW,
            section: SectionIndex(section),
        }]
            .state()
    }

    fn ledger(&self, payment: PaymentId) -> [u64; 5] {
        self.gateway
            .ledger
            .get(&payment)
            .copied()
            .unwrap_or_default()
    }

    /// Every stream rebuilt from its log equals its live state; read models folded
    /// in reverse-and-duplicated order equal those folded in order.
    fn check_replay(&self) {
        fn check<A: Aggregate + PartialEq + std::fmt::Debug>(
            streams: &BTreeMap<impl Ord, Stream<A>>,
        ) {
            for stream in streams.values() {
                assert_eq!(&Stream::<A>::replay(stream.log()), stream.state());
            }
        }
        check(&self.shows);
        check(&self.inventories);
        check(&self.orders);
        check(&self.payments);
        check(&self.tickets);
        check(&self.resales);
        let mut in_order = ReadModels::new();
        for published in &self.published {
            in_order.observe(published.clone());
        }
        let mut shuffled = ReadModels::new();
        for published in self.published.iter().rev() {
            shuffled.observe(published.clone());
            shuffled.observe(published.clone());
        }
        assert_eq!(in_order.available_seats, shuffled.available_seats);
        assert_eq!(in_order.sales, shuffled.sales);
        assert_eq!(in_order.customer_history, shuffled.customer_history);
        assert_eq!(in_order.venue_layout, shuffled.venue_layout);
        for (key, inventory) in &self.inventories {
            assert_eq!(
                in_order.available_seats.section(*key),
                Some(inventory.state().counts())
            );
        }
    }
}

/// A world with one show starting `start_in_ms` from now (section "A" of 10 seats at
/// 100) where Alice bought one seat; returns the world and her ticket.
fn alice_bought_one_ticket(start_in_ms: u64) -> (World, TicketId) {
    let mut world = World::new();
    world.create_show(start_in_ms, &[("A", 10)], 100);
    world.initiate(1, ALICE, 0, 1).unwrap();
    world.pay(1, ALICE).unwrap();
    let ticket = TicketId {
        order: OrderId(1),
        index: 0,
    };
    (world, ticket)
}

#[test]
fn happy_path_issues_one_ticket_per_seat_for_exactly_the_quote() {
    let mut world = World::new();
    world.create_show(60 * DAY_MS, &[("A", 10), ("B", 10)], 100);
    world.initiate(1, ALICE, 0, 3).unwrap();
    assert_eq!(world.status(1), OrderStatus::AwaitingPayment);
    world.pay(1, ALICE).unwrap();
    assert_eq!(world.status(1), OrderStatus::Completed);
    // Early bird: 80 % of 100.00 per seat, three seats.
    assert_eq!(
        world.ledger(PaymentId::Order(OrderId(1))),
        [24_000, 24_000, 0, 0, 0]
    );
    assert_eq!(world.section(0).counts().sold, 3);
    assert_eq!(world.section(0).counts().reserved, 0);
    for index in 0..3 {
        let ticket = &world.tickets[&TicketId {
            order: OrderId(1),
            index,
        }];
        assert_eq!(ticket.state().owner(), Some(ALICE));
        assert_eq!(
            ticket.state().details.as_ref().unwrap().seat,
            Some(SeatIndex(u32::from(index)))
        );
    }
    assert!(
        world
            .timers
            .keys()
            .all(|timer| matches!(timer, Timer::ShowStart { .. }))
    );
    world.check_replay();
}

#[test]
fn an_unpaid_order_expires_at_five_minutes_and_frees_its_seats() {
    let mut world = World::new();
    world.create_show(60 * DAY_MS, &[("A", 10)], 100);
    world.initiate(1, ALICE, 1, 2).unwrap();
    world.advance(world.now.plus(5 * MINUTE_MS - 1));
    assert_eq!(world.status(1), OrderStatus::AwaitingPayment);
    world.advance(world.now.plus(1));
    assert_eq!(world.status(1), OrderStatus::Expired);
    assert_eq!(world.section(1).counts().available, 100);
    assert_eq!(
        world.pay(1, ALICE),
        Err(order::OrderError::NotAllowedInStatus {
            status: OrderStatus::Expired
        })
    );
    world.check_replay();
}

#[test]
fn a_declined_authorization_compensates_and_issues_nothing() {
    let mut world = World::new();
    world.create_show(60 * DAY_MS, &[("A", 10)], 100);
    world
        .gateway
        .decline_authorize
        .insert(PaymentId::Order(OrderId(1)));
    world.initiate(1, ALICE, 0, 2).unwrap();
    world.pay(1, ALICE).unwrap();
    assert_eq!(world.status(1), OrderStatus::Compensated);
    assert_eq!(world.section(0).counts().available, 10);
    assert!(world.tickets.is_empty());
    world.check_replay();
}

#[test]
fn a_refused_capture_unsells_and_voids() {
    let mut world = World::new();
    world.create_show(60 * DAY_MS, &[("A", 10)], 100);
    world
        .gateway
        .decline_capture
        .insert(PaymentId::Order(OrderId(1)));
    world.initiate(1, ALICE, 0, 2).unwrap();
    world.pay(1, ALICE).unwrap();
    assert_eq!(world.status(1), OrderStatus::Compensated);
    assert_eq!(world.section(0).counts().available, 10);
    let payment = world.payments[&PaymentId::Order(OrderId(1))].state();
    assert_eq!(payment.status(), Some(PaymentStatus::Voided));
    world.check_replay();
}

#[test]
fn an_unknown_gateway_outcome_is_resolved_before_the_saga_hears() {
    let mut world = World::new();
    world.create_show(60 * DAY_MS, &[("A", 10)], 100);
    world
        .gateway
        .unknown_once
        .insert(PaymentId::Order(OrderId(1)));
    world.initiate(1, ALICE, 0, 1).unwrap();
    world.pay(1, ALICE).unwrap();
    assert_eq!(world.status(1), OrderStatus::Completed);
    assert_eq!(world.ledger(PaymentId::Order(OrderId(1)))[1], 8_000);
    world.check_replay();
}

#[test]
fn show_cancelled_while_authorizing_undoes_everything_when_the_answer_lands() {
    let mut world = World::new();
    world.create_show(60 * DAY_MS, &[("A", 10)], 100);
    let payment = PaymentId::Order(OrderId(1));
    world.gateway.held.insert(payment);
    world.initiate(1, ALICE, 0, 2).unwrap();
    world.pay(1, ALICE).unwrap();
    assert_eq!(world.status(1), OrderStatus::Authorizing);
    let id = world.id();
    world
        .show(SHOW, id, Actor::Organizer(ORGANIZER), ShowCommand::Cancel)
        .unwrap();
    world.settle();
    assert_eq!(world.status(1), OrderStatus::Authorizing);
    world.gateway.held.remove(&payment);
    let parked = std::mem::take(&mut world.gateway.parked);
    world.calls.extend(parked);
    world.settle();
    assert_eq!(world.status(1), OrderStatus::Cancelled);
    assert_eq!(world.ledger(payment)[4], 1, "the authorization was voided");
    assert_eq!(world.section(0).counts().reserved, 0);
    assert!(world.tickets.is_empty());
    world.check_replay();
}

#[test]
fn ticket_cancellation_refunds_by_policy_and_puts_the_seat_back() {
    let (mut world, ticket) = alice_bought_one_ticket(5 * DAY_MS);
    assert_eq!(
        world.ticket_command(ticket, Actor::Customer(BOB), TicketCommand::Cancel),
        Err(ticket::TicketError::NotTicketOwner)
    );
    world
        .ticket_command(ticket, Actor::Customer(ALICE), TicketCommand::Cancel)
        .unwrap();
    // Last minute: 110.00 paid; 5 days out: half back.
    assert_eq!(
        world.ledger(PaymentId::Order(OrderId(1))),
        [11_000, 11_000, 5_500, 0, 0]
    );
    assert_eq!(world.section(0).counts().available, 10);
    world.check_replay();
}

#[test]
fn resale_moves_ownership_pays_the_seller_and_show_cancellation_splits_refunds() {
    let (mut world, ticket) = alice_bought_one_ticket(60 * DAY_MS);
    world
        .ticket_command(
            ticket,
            Actor::Customer(ALICE),
            TicketCommand::List {
                price: Money(6_000),
            },
        )
        .unwrap();
    let buy = |resale: u64| ResaleCommand::Buy {
        resale: ResaleId(resale),
        ticket,
        price: Money(6_000),
        method: CARD,
    };
    let id = world.id();
    world
        .resale(ResaleId(1), id, Actor::Customer(BOB), buy(1))
        .unwrap();
    let id = world.id();
    world
        .resale(ResaleId(2), id, Actor::Customer(CustomerId(300)), buy(2))
        .unwrap();
    world.settle();
    assert_eq!(
        world.resales[&ResaleId(1)].state().status(),
        Some(ResaleStatus::Completed)
    );
    assert_eq!(
        world.resales[&ResaleId(2)].state().status(),
        Some(ResaleStatus::Lost)
    );
    assert_eq!(world.tickets[&ticket].state().owner(), Some(BOB));
    assert_eq!(
        world.ledger(PaymentId::Order(OrderId(1))),
        [8_000, 8_000, 0, 6_000, 0]
    );
    assert_eq!(
        world.ledger(PaymentId::Resale(ResaleId(2)))[4],
        1,
        "the loser is voided"
    );
    let id = world.id();
    world
        .show(SHOW, id, Actor::Organizer(ORGANIZER), ShowCommand::Cancel)
        .unwrap();
    world.settle();
    assert_eq!(
        world.ledger(PaymentId::Resale(ResaleId(1))),
        [6_000, 6_000, 6_000, 0, 0]
    );
    assert_eq!(
        world.ledger(PaymentId::Order(OrderId(1))),
        [8_000, 8_000, 2_000, 6_000, 0]
    );
    world.check_replay();
}

#[test]
fn the_same_command_twice_is_a_repeat_and_different_content_a_conflict() {
    let mut world = World::new();
    world.create_show(60 * DAY_MS, &[("A", 10)], 100);
    let command = |quantity| {
        Envelope::new(
            CommandId(999),
            Actor::Customer(ALICE),
            Timestamp(1_000 * DAY_MS),
            OrderCommand::Initiate {
                order: OrderId(5),
                show: SHOW,
                section: SectionIndex(0),
                quantity,
                seats: None,
            },
        )
    };
    let mut stream = Stream::<Order>::new();
    assert!(matches!(
        stream.handle(&world.catalog, &command(2)),
        Ok(Handled::New { .. })
    ));
    assert!(matches!(
        stream.handle(&world.catalog, &command(2)),
        Ok(Handled::Repeat { .. })
    ));
    assert_eq!(stream.log().len(), 1);
    assert_eq!(
        stream.handle(&world.catalog, &command(3)).err(),
        Some(order::OrderError::IdempotencyConflict {
            command: CommandId(999)
        })
    );
    let earlier = Envelope::new(
        CommandId(1_000),
        Actor::Customer(ALICE),
        Timestamp(1),
        OrderCommand::Cancel,
    );
    assert!(matches!(
        stream.handle(&world.catalog, &earlier),
        Err(order::OrderError::TimeWentBackwards { .. })
    ));
}

#[test]
fn a_late_reserve_after_release_is_refused_and_the_phase_never_goes_back() {
    let mut inventory = Stream::<Inventory>::new();
    let key = SectionKey {
        show: SHOW,
        section: SectionIndex(0),
    };
    let now = Timestamp(10);
    let spec = SectionSpec {
        name: "Floor".into(),
        kind: SectionKind::GeneralAdmission,
        capacity: 1,
        seat_labels: Default::default(),
        base_price: Money(1),
    };
    let send = |stream: &mut Stream<Inventory>, id: u64, body| {
        stream
            .handle(
                &(),
                &Envelope::new(CommandId(id), Actor::Service, now, body),
            )
            .map(|h| h.event().cloned())
    };
    send(
        &mut inventory,
        1,
        InventoryCommand::Initialize {
            section: key,
            organizer: ORGANIZER,
            start_at: Timestamp(1_000_000),
            spec,
        },
    )
    .unwrap();
    send(
        &mut inventory,
        2,
        InventoryCommand::SetPhase {
            show_version: 3,
            phase: SalesPhase::Open,
        },
    )
    .unwrap();
    send(
        &mut inventory,
        3,
        InventoryCommand::SetPhase {
            show_version: 2,
            phase: SalesPhase::Closed,
        },
    )
    .unwrap();
    assert_eq!(inventory.state().phase(), SalesPhase::Open);
    send(
        &mut inventory,
        4,
        InventoryCommand::Release { order: OrderId(9) },
    )
    .unwrap();
    let reserve = InventoryCommand::Reserve {
        order: OrderId(9),
        quantity: 1,
        seats: None,
        initiated_at: now,
        expires_at: now.plus(1),
    };
    assert_eq!(
        send(&mut inventory, 5, reserve).err(),
        Some(inventory::InventoryError::OrderReleased { order: OrderId(9) })
    );
}

#[test]
fn show_cancelled_while_confirming_ends_cancelled_with_nothing_kept() {
    let mut world = World::new();
    world.create_show(60 * DAY_MS, &[("A", 10)], 100);
    world.hold = Some(|message| {
        matches!(
            message,
            Message::Inventory {
                body: InventoryCommand::Confirm { .. },
                ..
            }
        )
    });
    world.initiate(1, ALICE, 0, 2).unwrap();
    world.pay(1, ALICE).unwrap();
    assert_eq!(world.status(1), OrderStatus::Confirming);
    world.cancel_show().unwrap();
    assert_eq!(world.status(1), OrderStatus::Confirming);
    world.release_held();
    assert_eq!(world.status(1), OrderStatus::Cancelled);
    let counts = world.section(0).counts();
    assert_eq!((counts.reserved, counts.sold), (0, 0));
    assert_eq!(
        world.ledger(PaymentId::Order(OrderId(1))),
        [16_000, 0, 0, 0, 1]
    );
    assert!(world.tickets.is_empty());
    world.check_replay();
}

#[test]
fn show_cancelled_while_capturing_refunds_the_capture_and_unsells() {
    let mut world = World::new();
    world.create_show(60 * DAY_MS, &[("A", 10)], 100);
    let payment = PaymentId::Order(OrderId(1));
    world.gateway.held_capture.insert(payment);
    world.initiate(1, ALICE, 0, 2).unwrap();
    world.pay(1, ALICE).unwrap();
    assert_eq!(world.status(1), OrderStatus::Capturing);
    world.cancel_show().unwrap();
    world.release_held();
    assert_eq!(world.status(1), OrderStatus::Cancelled);
    assert_eq!(world.ledger(payment), [16_000, 16_000, 16_000, 0, 0]);
    assert_eq!(world.section(0).counts().sold, 0);
    assert!(world.tickets.is_empty());
    world.check_replay();
}

#[test]
fn an_authorization_after_the_hold_expired_is_voided() {
    let mut world = World::new();
    world.create_show(60 * DAY_MS, &[("A", 10)], 100);
    let payment = PaymentId::Order(OrderId(1));
    world.gateway.held.insert(payment);
    let start = world.now;
    world.initiate(1, ALICE, 0, 2).unwrap();
    world.advance(start.plus(MINUTE_MS));
    world.pay(1, ALICE).unwrap();
    world.advance(start.plus(15 * MINUTE_MS - 1));
    assert_eq!(
        world.section(0).counts().reserved,
        2,
        "extended to the payment window"
    );
    world.advance(start.plus(15 * MINUTE_MS));
    assert_eq!(world.section(0).counts().reserved, 0);
    world.release_held();
    assert_eq!(world.status(1), OrderStatus::Compensated);
    assert_eq!(world.ledger(payment)[4], 1);
    world.check_replay();
}

#[test]
fn customers_cancel_only_their_own_orders_and_only_before_paying() {
    let mut world = World::new();
    world.create_show(60 * DAY_MS, &[("A", 10)], 100);
    world.initiate(1, ALICE, 0, 2).unwrap();
    world.initiate(2, ALICE, 0, 2).unwrap();
    let cancel = |world: &mut World, order, actor| {
        let id = world.id();
        let result = world.order(OrderId(order), id, actor, OrderCommand::Cancel);
        world.settle();
        result
    };
    assert_eq!(
        cancel(&mut world, 1, Actor::Customer(BOB)),
        Err(order::OrderError::NotOrderCustomer)
    );
    assert_eq!(
        cancel(&mut world, 1, Actor::Service),
        Err(order::OrderError::NotAuthorized {
            actor: Actor::Service
        })
    );
    cancel(&mut world, 1, Actor::Customer(ALICE)).unwrap();
    assert_eq!(world.status(1), OrderStatus::Cancelled);
    world.pay(2, ALICE).unwrap();
    assert_eq!(
        cancel(&mut world, 2, Actor::Customer(ALICE)),
        Err(order::OrderError::TooLateToCancel)
    );
    assert_eq!(world.section(0).counts().sold, 2);
    assert_eq!(world.section(0).counts().available, 8);
    world.check_replay();
}

#[test]
fn the_show_start_closes_sales_and_releases_holds() {
    let mut world = World::new();
    let start = world.now;
    world.create_show(3 * MINUTE_MS, &[("A", 10)], 100);
    assert_eq!(world.cancel_show(), Err(show::ShowError::TooCloseToShow));
    world.initiate(1, ALICE, 1, 2).unwrap();
    assert_eq!(world.section(1).counts().reserved, 2);
    world.advance(start.plus(3 * MINUTE_MS));
    assert_eq!(
        world.shows[&SHOW].state().status(),
        Some(show::ShowStatus::Completed)
    );
    assert_eq!(world.section(1).counts().reserved, 0);
    assert_eq!(
        world.initiate(2, ALICE, 1, 1),
        Err(order::OrderError::SalesNotOpen)
    );
    world.advance(start.plus(5 * MINUTE_MS));
    assert_eq!(world.status(1), OrderStatus::Expired);
    world.check_replay();
}

#[test]
fn a_late_authorization_on_an_ended_order_is_voided_and_the_status_stays() {
    let mut world = World::new();
    world.create_show(60 * DAY_MS, &[("A", 10)], 100);
    world.initiate(1, ALICE, 0, 1).unwrap();
    world.advance(world.now.plus(5 * MINUTE_MS));
    assert_eq!(world.status(1), OrderStatus::Expired);
    let id = world.id();
    world
        .order(OrderId(1), id, Actor::Service, OrderCommand::Authorized)
        .unwrap();
    assert_eq!(world.status(1), OrderStatus::Expired);
    assert!(world.queue.iter().any(|(_, message)| matches!(
        message,
        Message::Payment {
            body: PaymentCommand::Void,
            ..
        }
    )));
    // A duplicate of an ignored kind is acknowledged and changes nothing.
    let id = world.id();
    let before = world.orders[&OrderId(1)].state().clone();
    world
        .order(OrderId(1), id, Actor::Service, OrderCommand::HoldExtended)
        .unwrap();
    assert_eq!(world.orders[&OrderId(1)].state(), &before);
}

#[test]
fn a_ticket_issued_after_its_show_was_cancelled_is_still_refunded() {
    let mut world = World::new();
    world.create_show(60 * DAY_MS, &[("A", 10)], 100);
    world.hold = Some(|message| matches!(message, Message::Ticket { .. }));
    world.initiate(1, ALICE, 0, 1).unwrap();
    world.pay(1, ALICE).unwrap();
    assert_eq!(world.status(1), OrderStatus::Completed);
    world.cancel_show().unwrap();
    world.release_held();
    let ticket = TicketId {
        order: OrderId(1),
        index: 0,
    };
    assert_eq!(
        world.tickets[&ticket].state().status(),
        Some(TicketStatus::ShowCancelled)
    );
    assert_eq!(
        world.ledger(PaymentId::Order(OrderId(1))),
        [8_000, 8_000, 8_000, 0, 0]
    );
    world.check_replay();
}

#[test]
fn a_refused_resale_capture_puts_the_listing_back_for_the_next_buyer() {
    let (mut world, ticket) = alice_bought_one_ticket(60 * DAY_MS);
    world
        .ticket_command(
            ticket,
            Actor::Customer(ALICE),
            TicketCommand::List {
                price: Money(8_000),
            },
        )
        .unwrap();
    assert_eq!(
        world.ticket_command(
            ticket,
            Actor::Customer(ALICE),
            TicketCommand::List {
                price: Money(8_001)
            }
        ),
        Err(ticket::TicketError::AlreadyListed)
    );
    world
        .gateway
        .decline_capture
        .insert(PaymentId::Resale(ResaleId(1)));
    let buy = |resale| ResaleCommand::Buy {
        resale: ResaleId(resale),
        ticket,
        price: Money(8_000),
        method: CARD,
    };
    let id = world.id();
    world
        .resale(ResaleId(1), id, Actor::Customer(BOB), buy(1))
        .unwrap();
    world.settle();
    assert_eq!(
        world.resales[&ResaleId(1)].state().status(),
        Some(ResaleStatus::Compensated)
    );
    assert_eq!(
        world.ledger(PaymentId::Resale(ResaleId(1))),
        [8_000, 0, 0, 0, 1]
    );
    assert_eq!(world.tickets[&ticket].state().owner(), Some(ALICE));
    let id = world.id();
    world
        .resale(ResaleId(2), id, Actor::Customer(BOB), buy(2))
        .unwrap();
    world.settle();
    assert_eq!(
        world.resales[&ResaleId(2)].state().status(),
        Some(ResaleStatus::Completed)
    );
    assert_eq!(world.tickets[&ticket].state().owner(), Some(BOB));
    world.check_replay();
}

#[test]
fn transfer_moves_rights_not_money_and_stops_at_24_hours() {
    let mut world = World::new();
    let start = world.now.plus(10 * DAY_MS);
    world.create_show(10 * DAY_MS, &[("A", 10)], 100);
    world.initiate(1, ALICE, 0, 1).unwrap();
    world.pay(1, ALICE).unwrap();
    let ticket = TicketId {
        order: OrderId(1),
        index: 0,
    };
    world
        .ticket_command(
            ticket,
            Actor::Customer(ALICE),
            TicketCommand::Transfer { to: BOB },
        )
        .unwrap();
    assert_eq!(
        world.ticket_command(
            ticket,
            Actor::Customer(ALICE),
            TicketCommand::Transfer { to: ALICE }
        ),
        Err(ticket::TicketError::NotTicketOwner)
    );
    world.now = Timestamp(start.0 - DAY_MS - 1);
    world
        .ticket_command(
            ticket,
            Actor::Customer(BOB),
            TicketCommand::Transfer { to: ALICE },
        )
        .unwrap();
    world.now = Timestamp(start.0 - DAY_MS + 1);
    assert_eq!(
        world.ticket_command(
            ticket,
            Actor::Customer(ALICE),
            TicketCommand::Transfer { to: BOB }
        ),
        Err(ticket::TicketError::TooCloseToShow)
    );
    // 1 ms under 24 h: a cancellation refunds nothing (< 3 days) to the buying payment.
    world
        .ticket_command(ticket, Actor::Customer(ALICE), TicketCommand::Cancel)
        .unwrap();
    assert_eq!(
        world.ledger(PaymentId::Order(OrderId(1))),
        [10_000, 10_000, 0, 0, 0]
    );
    world.check_replay();
}

#[test]
fn show_cancelled_during_a_resale_capture_refunds_the_buyer_and_withdraws_the_listing() {
    let (mut world, ticket) = alice_bought_one_ticket(60 * DAY_MS);
    world
        .ticket_command(
            ticket,
            Actor::Customer(ALICE),
            TicketCommand::List {
                price: Money(5_000),
            },
        )
        .unwrap();
    let resale = PaymentId::Resale(ResaleId(1));
    world.gateway.held_capture.insert(resale);
    let buy = ResaleCommand::Buy {
        resale: ResaleId(1),
        ticket,
        price: Money(5_000),
        method: CARD,
    };
    let id = world.id();
    world
        .resale(ResaleId(1), id, Actor::Customer(BOB), buy)
        .unwrap();
    world.settle();
    assert_eq!(
        world.resales[&ResaleId(1)].state().status(),
        Some(ResaleStatus::Capturing)
    );
    world.cancel_show().unwrap();
    world.release_held();
    assert_eq!(
        world.resales[&ResaleId(1)].state().status(),
        Some(ResaleStatus::Refunded)
    );
    assert_eq!(world.ledger(resale), [5_000, 5_000, 5_000, 0, 0]);
    assert_eq!(
        world.ledger(PaymentId::Order(OrderId(1))),
        [8_000, 8_000, 8_000, 0, 0]
    );
    let details = world.tickets[&ticket].state().details.clone().unwrap();
    assert_eq!((details.owner, details.listing), (ALICE, None));
    world.check_replay();
}
