//! The clients: the organizer and the customers, driven by the run's choice stream.
//!
//! Each client is a node that never crashes. It sends one request at a time, resends it
//! (same command id) until answered, and hands what it was told to the observer as
//! [`Sighting`]s, which the invariants judge. Plans are drawn at setup per workload:
//! - flash sale: customers arrive within seconds of sales opening, many asking for the
//!   same numbered seats, some for more than they may; some never pay, some pay late;
//! - season: four shows a month, a week, three days and a day away (each a few minutes
//!   beyond the boundary, so the run crosses it): every pricing tier, transfers at the
//!   24-hour edge, resale listings with several buyers, ticket cancellations across
//!   each refund boundary, and the organizer may cancel the month-away show while
//!   orders are open;
//! - adversarial: honest customers, and adversaries who pay for others' orders,
//!   transfer tickets they don't own, send internal service commands, forge an actor or
//!   a time in a body, replay old messages and cancel twice. Every adversarial move must
//!   be rejected (or, for a replay, answered as a repeat) and must change nothing.

use std::rc::Rc;
use turnstile_core::inventory::{InventoryCommand, SeatSelection};
use turnstile_core::order::{OrderCommand, OrderStatus};
use turnstile_core::payment::{PaymentCommand, PaymentMethod};
use turnstile_core::show::ShowCommand;
use turnstile_core::ticket::TicketCommand;
use turnstile_core::ticket::resale::ResaleCommand;
use turnstile_core::time::{DAY_MS, MINUTE_MS, SECOND_MS};
use turnstile_core::{
    Actor, CommandId, CustomerId, Message, Money, OrderId, PaymentId, RefundId, ResaleId,
    SectionIndex, SectionKey, ShowId, TicketId, Timestamp,
};

use turnstile_host::{Answer, Claim, Msg, Query, Rejection};
use turnstile_sim::{Ctx, NodeId, Setup, TimerId};

use crate::layout::{
    ClientTimer, DRIVEN_CUSTOMERS, EPOCH_MS, External, Layout, ORDERS, Role, SETUP_COMMANDS,
    TICKETS, Workload, World, WorldConfig, WorldTimer, command_id, draw_size, draw_usually,
    is_numbered,
};

/// A client resends an unanswered request this often.
pub const RETRY_MS: u64 = 400;
/// Bit 62 marks the command ids of adversarial moves (client ids live below bit 63).
pub const ADVERSARIAL_BIT: u64 = 1 << 62;
/// Longest wait between two polls of an order.
const POLL_MS_MAX: u64 = 20 * SECOND_MS;

/// What kind of customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CustomerKind {
    /// Buys tickets; `pays == false` never pays.
    Buyer {
        /// Whether they pay.
        pays: bool,
    },
    /// Buys a resale listing.
    ResaleBuyer,
    /// Cheats.
    Adversary,
}

/// A customer's plan, drawn at setup.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CustomerPlan {
    /// What kind.
    pub kind: CustomerKind,
    /// When they arrive (virtual ms).
    pub arrive_ms: u64,
    /// Which show (index) and section.
    pub show: usize,
    /// The section.
    pub section: u32,
    /// How many seats (0 and 9 are refused).
    pub quantity: u32,
    /// Named seats, or best available.
    pub seats: Option<Vec<String>>,
    /// How long they think before paying.
    pub think_ms: u64,
    /// After buying: transfer a ticket.
    pub transfer: bool,
    /// After buying: list a ticket for resale.
    pub list: bool,
    /// After buying: cancel a ticket.
    pub cancel: bool,
    /// Adversarial moves to make.
    pub moves: u32,
    /// Stays home: never arrives (a small world's idle customer).
    pub home: bool,
}

impl CustomerPlan {
    /// The plan of a customer who stays home (never arrives).
    fn idle() -> Self {
        CustomerPlan {
            kind: CustomerKind::Buyer { pays: false },
            arrive_ms: 0,
            show: 0,
            section: 0,
            quantity: 1,
            seats: None,
            think_ms: 0,
            transfer: false,
            list: false,
            cancel: false,
            moves: 0,
            home: true,
        }
    }
}

/// A public fact customers can act on (what a marketplace page or a bystander shows).
#[derive(Clone, Debug, Default)]
pub struct Board {
    /// Orders started, with the message that started them.
    pub orders: Vec<(OrderId, CustomerId, Message)>,
    /// Tickets bought, with their first owner.
    pub tickets: Vec<(TicketId, CustomerId)>,
    /// Resale listings: ticket, price, seller.
    pub listings: Vec<(TicketId, Money, CustomerId)>,
}

impl Board {
    /// Empties the board for a new run.
    pub fn clear(&mut self) {
        self.orders.clear();
        self.tickets.clear();
        self.listings.clear();
    }
}

/// What an outstanding request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Purpose {
    Initiate,
    Poll,
    Pay,
    Transfer,
    List(TicketId, Money),
    CancelTicket,
    Buy,
    PollResale,
    Organizer,
    Move,
    CancelOwn { again: bool },
    Driven,
}

#[derive(Clone, Debug)]
struct Outstanding {
    to: NodeId,
    id: CommandId,
    msg: Msg,
    purpose: Purpose,
    adversarial: bool,
}

/// An organizer's or a customer's state.
#[derive(Clone, Debug)]
pub struct Client {
    node: NodeId,
    customer: Option<CustomerId>,
    plan: usize,
    seq: u64,
    outstanding: Option<Outstanding>,
    retry: Option<TimerId>,
    order: Option<OrderId>,
    initiate: Option<Message>,
    quantity: u8,
    resale: Option<ResaleId>,
    poll_ms: u64,
    tries: u32,
    step: usize,
    moves_left: u32,
    /// Whether the client finished its plan.
    pub done: bool,
}

/// What a client saw that the observer judges (the answers customers were told).
#[derive(Clone, Debug)]
pub enum Sighting {
    /// A customer was told an order's status.
    Told {
        /// The order.
        order: OrderId,
        /// Its status.
        status: OrderStatus,
        /// The customer.
        customer: CustomerId,
    },
    /// An adversarial move was answered.
    AdversarialAnswer {
        /// The move as sent.
        msg: Msg,
        /// The answer.
        answer: Answer,
    },
}

/// The organizer and the customers of a run: their plans, the public board they act
/// on, and what they saw for the observer to judge ([`Customers::take_sightings`]).
#[derive(Debug, Default)]
pub struct Customers {
    plans: Vec<CustomerPlan>,
    /// Public facts customers act on.
    pub board: Board,
    layout: Rc<Layout>,
    workload: Option<Workload>,
    config: Option<WorldConfig>,
    sightings: Vec<Sighting>,
    driven: Vec<DrivenAnswer>,
    /// Whether the shows were on sale when the run began (the organizer's setup
    /// commands already played: `Services::put_on_sale`).
    on_sale: bool,
}

/// The answer to a driven command ([`External::Driven`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrivenAnswer {
    /// The client that sent it.
    pub client: NodeId,
    /// The command's id.
    pub id: CommandId,
    /// The answer.
    pub answer: Answer,
}

impl Customers {
    /// Draws every client's plan and schedules their arrival; adds the customers' nodes
    /// to `layout`.
    /// With `on_sale`, the shows are on sale when the run begins and the organizer has
    /// nothing left to set up.
    pub fn plan<S: World>(
        &mut self,
        config: WorldConfig,
        workload: Workload,
        on_sale: bool,
        layout: &mut Layout,
        setup: &mut Setup<'_, S>,
    ) {
        self.config = Some(config);
        self.workload = Some(workload);
        self.on_sale = on_sale;
        self.board.clear();
        self.sightings.clear();
        plan(self, layout, setup);
    }

    /// How many customers stay home this run.
    pub fn staying_home(&self) -> usize {
        self.plans.iter().filter(|plan| plan.home).count()
    }

    /// Whether the shows were on sale when the run began.
    pub fn on_sale_from_the_start(&self) -> bool {
        self.on_sale
    }

    /// The run's layout, once complete.
    pub fn set_layout(&mut self, layout: Rc<Layout>) {
        self.layout = layout;
    }

    /// Answers to driven commands since the last call.
    pub fn take_driven(&mut self) -> Vec<DrivenAnswer> {
        std::mem::take(&mut self.driven)
    }

    /// What clients saw since the last call.
    pub fn take_sightings(&mut self) -> std::vec::Drain<'_, Sighting> {
        self.sightings.drain(..)
    }

    fn workload(&self) -> Workload {
        self.workload.expect("planned")
    }

    fn config(&self) -> WorldConfig {
        self.config.expect("planned")
    }
}

/// The most adversaries an adversarial run has.
const ADVERSARIES_MAX: u64 = 5;

/// Draws every client's plan and schedules their arrival.
fn plan<S: World>(world: &mut Customers, layout: &mut Layout, setup: &mut Setup<'_, S>) {
    world.plans.clear();
    world.driven.clear();
    let small = world.config().small_worlds;
    let (min, max, adversaries, adversaries_max) = match world.workload() {
        Workload::Driven => {
            // Nothing is drawn or scheduled: every command comes from the driver.
            layout.customers = DRIVEN_CUSTOMERS;
            for _ in 0..DRIVEN_CUSTOMERS {
                setup.add_node(false);
            }
            return;
        }
        Workload::FlashSale => (
            world.config().flash_sale.customers_min,
            world.config().flash_sale.customers_max,
            0,
            0,
        ),
        Workload::Season => (
            world.config().season_customers.0,
            world.config().season_customers.1,
            0,
            0,
        ),
        Workload::Adversarial => (
            world.config().adversarial_customers.0,
            world.config().adversarial_customers.1,
            draw_size(setup, 0, (3, ADVERSARIES_MAX), small) as u32,
            ADVERSARIES_MAX as u32,
        ),
    };
    // A small world has a single customer.
    let least = u64::from(adversaries == 0);
    let honest = draw_size(setup, least, (u64::from(min), u64::from(max)), small) as u32;
    let customers = honest + adversaries;
    layout.customers = customers;
    for _ in 0..customers {
        setup.add_node(false);
    }
    let organizer = NodeId(layout.organizer);
    if !world.on_sale {
        setup.schedule_external(organizer, 0, External::Arrive);
    }
    if world.workload() == Workload::Season && setup.draw(1) == 1 {
        // The organizer cancels the month-away show while orders are open.
        let at_ms = setup.range(20 * SECOND_MS, 8 * MINUTE_MS);
        setup.schedule_external(organizer, at_ms, External::CancelShow { show: ShowId(1) });
    }
    // Every slot up to the most customers there could be is drawn, used or not, so that
    // lowering a count moves no later draw (the shrinker lowers it in place).
    let (honest_slots, adversary_slots) = if small {
        (max, adversaries_max)
    } else {
        (honest, adversaries)
    };
    for slot in 0..honest_slots + adversary_slots {
        let (index, adversary) = if slot < honest_slots {
            (slot, false)
        } else {
            (honest + slot - honest_slots, true)
        };
        let used = if adversary {
            index < customers
        } else {
            index < honest
        };
        // One part per customer: its first draw 0, the customer stays home and nothing
        // more is drawn for it.
        let node = NodeId(layout.first_customer + index);
        setup.begin_part(if used { node } else { NodeId(u32::MAX) });
        let plan = if draw_usually(setup, small) {
            let plan = draw_plan(world, layout, setup, adversary);
            if used {
                setup.schedule_external(node, plan.arrive_ms, External::Arrive);
            }
            plan
        } else {
            CustomerPlan::idle()
        };
        setup.end_part();
        if used {
            world.plans.push(plan);
        }
    }
}

fn draw_plan<S: World>(
    world: &Customers,
    layout: &Layout,
    setup: &mut Setup<'_, S>,
    adversary: bool,
) -> CustomerPlan {
    let shows = &layout.shows;
    let (show, arrive_ms, kind) = match world.workload() {
        Workload::FlashSale => {
            let window = world.config().flash_sale.arrival_window_ms;
            // Not paying is the least eventful: the hold just lapses.
            let pays = setup.draw(4) != 0;
            (0, 1_500 + setup.draw(window), CustomerKind::Buyer { pays })
        }
        Workload::Season => {
            if setup.draw(4) == 4 {
                (
                    0,
                    setup.range(6 * MINUTE_MS, 12 * MINUTE_MS),
                    CustomerKind::ResaleBuyer,
                )
            } else {
                let pays = setup.draw(6) != 0;
                let show = setup.draw(shows.len() as u64 - 1) as usize;
                (
                    show,
                    setup.range(SECOND_MS, 10 * MINUTE_MS),
                    CustomerKind::Buyer { pays },
                )
            }
        }
        Workload::Adversarial if adversary => {
            (0, 2_000 + setup.draw(2_000), CustomerKind::Adversary)
        }
        // A driven run draws no plan (`plan` returned before).
        Workload::Adversarial | Workload::Driven => (
            0,
            1_500 + setup.draw(2_500),
            CustomerKind::Buyer { pays: true },
        ),
    };
    let plan_show = &shows[show];
    let section = setup.draw(plan_show.sections.len() as u64 - 1) as u32;
    let mut quantity = setup.range(1, 4) as u32;
    // Sometimes a quantity at or past a limit (at the top: lowered, it is ordinary).
    match setup.draw(29) {
        29 => quantity = 9,
        28 => quantity = 8,
        27 => quantity = 0,
        _ => {}
    }
    if kind == CustomerKind::Adversary {
        quantity = 1;
    }
    let spec = &plan_show.sections[section as usize];
    let seats = if is_numbered(spec) && (1..=3).contains(&quantity) && setup.draw(1) == 1 {
        // The hot seats: the front row's first few, which many customers ask for.
        let first = setup.draw(2) as usize;
        let labels: Vec<String> = (0..quantity as usize)
            .filter_map(|i| spec.seat_labels.get(first + i).cloned())
            .collect();
        Some(labels)
    } else {
        None
    };
    let think_ms = if setup.draw(9) == 9 {
        // Pays after the hold lapsed.
        setup.range(5 * MINUTE_MS, 6 * MINUTE_MS)
    } else {
        setup.range(50, 3_000)
    };
    let season = world.workload() == Workload::Season;
    CustomerPlan {
        kind,
        arrive_ms,
        show,
        section,
        quantity,
        seats,
        think_ms,
        transfer: season && setup.draw(2) == 2,
        list: season && show <= 1 && setup.draw(2) == 2,
        cancel: season && setup.draw(2) == 2,
        moves: if kind == CustomerKind::Adversary {
            draw_size(setup, 1, (4, 8), world.config().small_worlds) as u32
        } else {
            0
        },
        home: false,
    }
}

fn customer_of(client: &Client) -> CustomerId {
    client.customer.unwrap_or(CustomerId(0))
}

impl Customers {
    pub fn start_client(&mut self, node: NodeId) -> Client {
        let customer = match self.layout.role(node) {
            Role::Customer(customer) => Some(customer),
            _ => None,
        };
        // An organizer whose shows were on sale when the run began sent their setup
        // commands already.
        let set_up = match customer {
            None if self.on_sale => self.layout.shows.len() * SETUP_COMMANDS,
            _ => 0,
        };
        Client {
            node,
            customer,
            plan: customer.map_or(0, |c| c.0 as usize - 1),
            seq: set_up as u64,
            outstanding: None,
            retry: None,
            order: None,
            initiate: None,
            quantity: 0,
            resale: None,
            poll_ms: 100,
            tries: 0,
            step: set_up,
            moves_left: 0,
            done: false,
        }
    }

    fn next_id(client: &mut Client, adversarial: bool) -> CommandId {
        client.seq += 1;
        let id = command_id(client.node, client.seq);
        if adversarial {
            CommandId(id.0 | ADVERSARIAL_BIT)
        } else {
            id
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn request<S: World>(
        &mut self,
        client: &mut Client,
        ctx: &mut Ctx<'_, S>,
        to: NodeId,
        msg: Msg,
        id: CommandId,
        purpose: Purpose,
        adversarial: bool,
    ) {
        ctx.send(to, msg.clone());
        client.outstanding = Some(Outstanding {
            to,
            id,
            msg,
            purpose,
            adversarial,
        });
        client.retry =
            Some(ctx.set_liveness_timer(RETRY_MS, WorldTimer::Client(ClientTimer::Retry)));
    }

    fn command<S: World>(
        &mut self,
        client: &mut Client,
        ctx: &mut Ctx<'_, S>,
        message: Message,
        purpose: Purpose,
        adversarial: bool,
        claimed: Option<Claim>,
    ) {
        let to = self.layout.route(&message);
        let id = message.id();
        let msg = Msg::Command {
            msg: message,
            claimed: claimed.map(Box::new),
        };
        self.request(client, ctx, to, msg, id, purpose, adversarial);
    }

    fn poll<S: World>(&mut self, client: &mut Client, ctx: &mut Ctx<'_, S>) {
        let (to, query, purpose) = match (client.resale, client.order) {
            (Some(resale), _) => (TICKETS, Query::Resale(resale), Purpose::PollResale),
            (None, Some(order)) => (ORDERS, Query::Order(order), Purpose::Poll),
            _ => return,
        };
        let id = Self::next_id(client, false);
        self.request(
            client,
            ctx,
            to,
            Msg::Query { id, query },
            id,
            purpose,
            false,
        );
    }

    fn later<S: World>(
        client: &mut Client,
        ctx: &mut Ctx<'_, S>,
        timer: ClientTimer,
        after_ms: u64,
    ) {
        let _ = client;
        ctx.set_liveness_timer(after_ms, WorldTimer::Client(timer));
    }

    fn poll_later<S: World>(client: &mut Client, ctx: &mut Ctx<'_, S>) {
        let after = client.poll_ms;
        client.poll_ms = (client.poll_ms * 2).min(POLL_MS_MAX);
        Self::later(client, ctx, ClientTimer::Poll, after);
    }

    pub fn client_external<S: World>(
        &mut self,
        client: &mut Client,
        ctx: &mut Ctx<'_, S>,
        event: External,
    ) {
        if let External::Driven(message) = event {
            return self.driven_command(client, ctx, *message);
        }
        let Some(customer) = client.customer else {
            return self.organizer_external(client, ctx, event);
        };
        match event {
            External::Arrive => self.arrive(client, ctx, customer),
            External::Transfer { ticket, to } => {
                let id = Self::next_id(client, false);
                let message = Message::Ticket {
                    ticket,
                    id,
                    body: TicketCommand::Transfer { to },
                };
                self.command(client, ctx, message, Purpose::Transfer, false, None);
            }
            External::List { ticket, price } => {
                let id = Self::next_id(client, false);
                let message = Message::Ticket {
                    ticket,
                    id,
                    body: TicketCommand::List { price },
                };
                self.command(
                    client,
                    ctx,
                    message,
                    Purpose::List(ticket, price),
                    false,
                    None,
                );
            }
            External::CancelTicket { ticket } => {
                let id = Self::next_id(client, false);
                let message = Message::Ticket {
                    ticket,
                    id,
                    body: TicketCommand::Cancel,
                };
                self.command(client, ctx, message, Purpose::CancelTicket, false, None);
            }
            External::Move => self.adversarial_move(client, ctx, customer),
            External::CancelShow { .. } | External::Driven(_) => {}
        }
    }

    /// A driver's command: sent once the client's previous request was answered.
    fn driven_command<S: World>(
        &mut self,
        client: &mut Client,
        ctx: &mut Ctx<'_, S>,
        message: Message,
    ) {
        if client.outstanding.is_some() {
            let again = External::Driven(Box::new(message));
            return ctx.schedule_external(client.node, RETRY_MS, again);
        }
        let claimed = None;
        self.command(client, ctx, message, Purpose::Driven, false, claimed);
    }

    fn arrive<S: World>(
        &mut self,
        client: &mut Client,
        ctx: &mut Ctx<'_, S>,
        customer: CustomerId,
    ) {
        let plan = self.plans[client.plan].clone();
        match plan.kind {
            CustomerKind::ResaleBuyer => {
                if self.board.listings.is_empty() {
                    client.done = true;
                    return;
                }
                // Few listings, several buyers: they collide on the same one.
                let pick = ctx.draw(self.board.listings.len() as u64 - 1) as usize;
                let (ticket, price, _) = self.board.listings[pick];
                let resale = ResaleId(u64::from(client.node.0) << 8 | 1);
                client.resale = Some(resale);
                let id = Self::next_id(client, false);
                let message = Message::Resale {
                    resale,
                    id,
                    body: ResaleCommand::Buy {
                        resale,
                        ticket,
                        price,
                        method: PaymentMethod { token: customer.0 },
                    },
                };
                self.command(client, ctx, message, Purpose::Buy, false, None);
            }
            _ => {
                let order = OrderId(u64::from(client.node.0) << 8 | 1);
                let show = self.layout.shows[plan.show].show;
                let id = Self::next_id(client, false);
                let message = Message::Order {
                    order,
                    id,
                    body: OrderCommand::Initiate {
                        order,
                        show,
                        section: SectionIndex(plan.section),
                        quantity: plan.quantity,
                        seats: plan.seats.clone(),
                    },
                };
                client.order = Some(order);
                client.quantity = plan
                    .quantity
                    .min(turnstile_core::inventory::ORDER_QUANTITY_MAX)
                    as u8;
                client.initiate = Some(message.clone());
                client.moves_left = plan.moves;
                self.command(client, ctx, message, Purpose::Initiate, false, None);
            }
        }
    }

    pub fn client_timer<S: World>(
        &mut self,
        client: &mut Client,
        ctx: &mut Ctx<'_, S>,
        timer: ClientTimer,
    ) {
        match timer {
            ClientTimer::Retry => {
                if let Some(outstanding) = &client.outstanding {
                    ctx.send(outstanding.to, outstanding.msg.clone());
                    client.retry = Some(
                        ctx.set_liveness_timer(RETRY_MS, WorldTimer::Client(ClientTimer::Retry)),
                    );
                }
            }
            ClientTimer::Poll => {
                if client.outstanding.is_none() {
                    self.poll(client, ctx);
                } else {
                    Self::poll_later(client, ctx);
                }
            }
            ClientTimer::Pay => {
                let (Some(order), Some(customer)) = (client.order, client.customer) else {
                    return;
                };
                if client.outstanding.is_some() {
                    return Self::later(client, ctx, ClientTimer::Pay, RETRY_MS);
                }
                let id = Self::next_id(client, false);
                let message = Message::Order {
                    order,
                    id,
                    body: OrderCommand::Pay {
                        method: PaymentMethod { token: customer.0 },
                    },
                };
                self.command(client, ctx, message, Purpose::Pay, false, None);
            }
        }
    }

    /// A message reached a client. `seat_price` tells a customer what a seat of its
    /// order cost (the receipt it was shown), for a resale listing's price.
    pub fn client_message<S: World>(
        &mut self,
        client: &mut Client,
        ctx: &mut Ctx<'_, S>,
        from: NodeId,
        msg: Msg,
        seat_price: &dyn Fn(OrderId) -> Option<Money>,
    ) {
        let Msg::Reply { id, answer } = msg else {
            return;
        };
        if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug!(node = client.node.0, from = from.0, id = id.0, answer = ?answer, "client got answer");
        }
        let Some(outstanding) = client.outstanding.as_ref() else {
            return;
        };
        if outstanding.id != id || outstanding.to != from {
            return; // A late duplicate of an answer already acted on.
        }
        let outstanding = client.outstanding.take().expect("checked");
        if let Some(retry) = client.retry.take() {
            ctx.cancel_timer(retry);
        }
        if outstanding.purpose == Purpose::Driven {
            self.driven.push(DrivenAnswer {
                client: client.node,
                id,
                answer,
            });
            return;
        }
        if outstanding.adversarial {
            self.sightings.push(Sighting::AdversarialAnswer {
                msg: outstanding.msg.clone(),
                answer: answer.clone(),
            });
        }
        if client.customer.is_none() {
            return self.organizer_answer(client, ctx, &answer);
        }
        let customer = customer_of(client);
        match (outstanding.purpose, answer) {
            (Purpose::Initiate, Answer::Accepted { .. }) => {
                if let (Some(order), Some(initiate)) = (client.order, client.initiate.clone()) {
                    self.board.orders.push((order, customer, initiate));
                }
                Self::poll_later(client, ctx);
                if client.moves_left > 0 {
                    let after = ctx.range(300, 1_500);
                    ctx.schedule_external(client.node, after, External::Move);
                }
            }
            (
                Purpose::Initiate,
                Answer::Rejected(Rejection::Order(
                    turnstile_core::order::OrderError::SalesNotOpen
                    | turnstile_core::order::OrderError::UnknownShow,
                )),
            ) if client.tries < 40 => {
                // Sales are not open yet here: ask again shortly, same command.
                client.tries += 1;
                let msg = outstanding.msg.clone();
                self.request(
                    client,
                    ctx,
                    outstanding.to,
                    msg,
                    id,
                    Purpose::Initiate,
                    false,
                );
            }
            (Purpose::Initiate, _) => client.done = true,
            (Purpose::Poll, Answer::Order(status)) => {
                self.order_status(client, ctx, status, seat_price)
            }
            (Purpose::Pay, _) => {
                client.poll_ms = 100;
                Self::poll_later(client, ctx);
            }
            (Purpose::List(ticket, price), Answer::Accepted { new: true }) => {
                self.board.listings.push((ticket, price, customer));
            }
            (Purpose::Buy, Answer::Accepted { .. }) => Self::poll_later(client, ctx),
            (Purpose::PollResale, Answer::Resale(status)) => match status {
                Some(status) if status.is_terminal() => client.done = true,
                _ => Self::poll_later(client, ctx),
            },
            (Purpose::CancelOwn { again: false }, _) => {
                // Cancel twice: the second, with a fresh id, must change nothing.
                if let Some(order) = client.order {
                    let id = Self::next_id(client, true);
                    let message = Message::Order {
                        order,
                        id,
                        body: OrderCommand::Cancel,
                    };
                    self.command(
                        client,
                        ctx,
                        message,
                        Purpose::CancelOwn { again: true },
                        true,
                        None,
                    );
                }
            }
            (Purpose::Move | Purpose::CancelOwn { again: true }, _) if client.moves_left > 0 => {
                let after = ctx.range(200, 2_000);
                ctx.schedule_external(client.node, after, External::Move);
            }
            _ => {}
        }
    }

    fn order_status<S: World>(
        &mut self,
        client: &mut Client,
        ctx: &mut Ctx<'_, S>,
        status: Option<OrderStatus>,
        seat_price: &dyn Fn(OrderId) -> Option<Money>,
    ) {
        let (Some(order), Some(status)) = (client.order, status) else {
            return Self::poll_later(client, ctx);
        };
        self.sightings.push(Sighting::Told {
            order,
            status,
            customer: customer_of(client),
        });
        let plan = &self.plans[client.plan];
        match status {
            OrderStatus::AwaitingPayment => match plan.kind {
                CustomerKind::Buyer { pays: false } => client.done = true,
                _ => {
                    let think_ms = plan.think_ms;
                    client.poll_ms = 100;
                    Self::later(client, ctx, ClientTimer::Pay, think_ms);
                }
            },
            OrderStatus::Completed => {
                client.done = true;
                self.after_purchase(client, ctx, order, seat_price);
            }
            status if status.is_terminal() => client.done = true,
            _ => Self::poll_later(client, ctx),
        }
    }

    fn after_purchase<S: World>(
        &mut self,
        client: &mut Client,
        ctx: &mut Ctx<'_, S>,
        order: OrderId,
        seat_price: &dyn Fn(OrderId) -> Option<Money>,
    ) {
        let plan = self.plans[client.plan].clone();
        let customer = customer_of(client);
        for index in 0..client.quantity {
            self.board
                .tickets
                .push((TicketId { order, index }, customer));
        }
        let show = &self.layout.shows[plan.show];
        let start_ms = show.start_at.0 - EPOCH_MS;
        let now_ms = ctx.now_ms();
        let last = client.quantity.saturating_sub(1);
        // Aim at a boundary: `at_ms` virtual, give or take `spread_ms`.
        let aim = |ctx: &mut Ctx<'_, S>, boundary_ms: u64, spread_ms: u64| {
            let target = start_ms.saturating_sub(boundary_ms) + ctx.draw(2 * spread_ms);
            target
                .saturating_sub(spread_ms)
                .saturating_sub(now_ms)
                .max(1)
        };
        if plan.transfer && self.layout.customers > 1 {
            let to = CustomerId(ctx.range(1, u64::from(self.layout.customers)));
            if to != customer {
                let after = aim(ctx, DAY_MS, 45 * SECOND_MS);
                let after = if plan.show == 3 {
                    after
                } else {
                    ctx.range(1, 30 * SECOND_MS)
                };
                let ticket = TicketId { order, index: 0 };
                ctx.schedule_external(client.node, after, External::Transfer { ticket, to });
            }
        }
        if plan.list && client.quantity > 1 {
            let ticket = TicketId {
                order,
                index: 1.min(last),
            };
            let price = seat_price(order).unwrap_or(Money(1));
            let share = ctx.range(50, 100);
            let price = Money((price.0 * share / 100).max(1));
            let after = ctx.range(1, 20_000);
            ctx.schedule_external(client.node, after, External::List { ticket, price });
        }
        if plan.cancel {
            let after = match plan.show {
                1 => aim(ctx, 7 * DAY_MS, 90 * SECOND_MS),
                2 => aim(ctx, 3 * DAY_MS, 90 * SECOND_MS),
                _ => ctx.range(1, 60 * SECOND_MS),
            };
            let ticket = TicketId { order, index: last };
            ctx.schedule_external(client.node, after, External::CancelTicket { ticket });
        }
    }

    fn adversarial_move<S: World>(
        &mut self,
        client: &mut Client,
        ctx: &mut Ctx<'_, S>,
        me: CustomerId,
    ) {
        if client.moves_left == 0 {
            return;
        }
        if client.outstanding.is_some() {
            return ctx.schedule_external(client.node, RETRY_MS, External::Move);
        }
        client.moves_left -= 1;
        let victims: Vec<usize> = (0..self.board.orders.len())
            .filter(|&i| self.board.orders[i].1 != me)
            .collect();
        let victim = (!victims.is_empty()).then(|| {
            self.board.orders[victims[ctx.draw(victims.len() as u64 - 1) as usize]].clone()
        });
        let section = SectionKey {
            show: ShowId(1),
            section: SectionIndex(ctx.draw(1) as u32),
        };
        let kind = ctx.draw(6);
        let id = Self::next_id(client, true);
        let (message, claimed, purpose) = match (kind, &victim) {
            (0, Some((order, _, _))) => (
                Message::Order {
                    order: *order,
                    id,
                    body: OrderCommand::Pay {
                        method: PaymentMethod { token: me.0 },
                    },
                },
                None,
                Purpose::Move,
            ),
            (1, Some((order, _, _))) => (
                Message::Ticket {
                    ticket: TicketId {
                        order: *order,
                        index: 0,
                    },
                    id,
                    body: TicketCommand::Transfer { to: me },
                },
                None,
                Purpose::Move,
            ),
            (2, victim) => {
                let order = victim.as_ref().map_or(OrderId(1), |v| v.0);
                let internal = match ctx.draw(5) {
                    0 => Message::Inventory {
                        section,
                        id,
                        body: InventoryCommand::Confirm { order },
                    },
                    1 => Message::Payment {
                        payment: PaymentId::Order(order),
                        id,
                        body: PaymentCommand::RefundAll {
                            refund: RefundId {
                                payment: PaymentId::Order(order),
                                ticket: None,
                            },
                        },
                    },
                    2 => Message::Ticket {
                        ticket: TicketId { order, index: 7 },
                        id,
                        body: TicketCommand::Issue {
                            ticket: TicketId { order, index: 7 },
                            owner: me,
                            section,
                            seat: None,
                            price: Money(1),
                            payment: PaymentId::Order(order),
                            start_at: Timestamp(EPOCH_MS + DAY_MS),
                        },
                    },
                    3 => Message::Order {
                        order,
                        id,
                        body: OrderCommand::Captured,
                    },
                    4 => Message::Show {
                        show: ShowId(1),
                        id,
                        body: ShowCommand::Cancel,
                    },
                    _ => Message::Inventory {
                        section,
                        id,
                        body: InventoryCommand::Block(SeatSelection::Count(1)),
                    },
                };
                (internal, None, Purpose::Move)
            }
            (3, Some((order, victim, _))) => (
                Message::Order {
                    order: *order,
                    id,
                    body: OrderCommand::Cancel,
                },
                Some(Claim {
                    actor: Actor::Customer(*victim),
                    now: Timestamp(EPOCH_MS),
                }),
                Purpose::Move,
            ),
            (4, _) => (
                Message::Show {
                    show: ShowId(1),
                    id,
                    body: ShowCommand::CloseSales,
                },
                Some(Claim {
                    actor: Actor::Organizer(turnstile_core::OrganizerId(1)),
                    now: Timestamp(EPOCH_MS),
                }),
                Purpose::Move,
            ),
            (5, Some((_, _, initiate))) => {
                // Replay someone else's message as it went over the wire.
                (initiate.clone(), None, Purpose::Move)
            }
            (5, None) | (6, _) if client.order.is_some() && kind == 6 => {
                let order = client.order.expect("checked");
                let legit = Self::next_id(client, false);
                let message = Message::Order {
                    order,
                    id: legit,
                    body: OrderCommand::Cancel,
                };
                return self.command(
                    client,
                    ctx,
                    message,
                    Purpose::CancelOwn { again: false },
                    false,
                    None,
                );
            }
            _ => match client.initiate.clone() {
                // Replay our own old message: a repeat, which must change nothing.
                Some(initiate) => (initiate, None, Purpose::Move),
                None => return,
            },
        };
        self.command(client, ctx, message, purpose, true, claimed);
    }
}

impl Customers {
    fn organizer_external<S: World>(
        &mut self,
        client: &mut Client,
        ctx: &mut Ctx<'_, S>,
        event: External,
    ) {
        match event {
            External::Arrive => self.organizer_step(client, ctx),
            External::CancelShow { show } => {
                if client.outstanding.is_some() {
                    return ctx.schedule_external(
                        client.node,
                        RETRY_MS,
                        External::CancelShow { show },
                    );
                }
                let id = Self::next_id(client, false);
                let message = Message::Show {
                    show,
                    id,
                    body: ShowCommand::Cancel,
                };
                client.step = usize::MAX;
                self.command(client, ctx, message, Purpose::Organizer, false, None);
            }
            _ => {}
        }
    }

    /// The organizer creates, publishes and opens each show, one command at a time.
    fn organizer_step<S: World>(&mut self, client: &mut Client, ctx: &mut Ctx<'_, S>) {
        let shows = self.layout.shows.len();
        let step = client.step;
        if step >= shows * SETUP_COMMANDS {
            client.done = true;
            return;
        }
        let plan = &self.layout.shows[step / SETUP_COMMANDS];
        let body = plan.setup_command(step % SETUP_COMMANDS);
        let id = Self::next_id(client, false);
        let message = Message::Show {
            show: plan.show,
            id,
            body,
        };
        self.command(client, ctx, message, Purpose::Organizer, false, None);
    }

    fn organizer_answer<S: World>(
        &mut self,
        client: &mut Client,
        ctx: &mut Ctx<'_, S>,
        answer: &Answer,
    ) {
        let _ = answer;
        if client.step == usize::MAX {
            return;
        }
        client.step += 1;
        self.organizer_step(client, ctx);
    }
}
