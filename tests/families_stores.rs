//! Ticket families, hand-offs and transfers through `Flow` (no HTTP) on
//! every store: memory, SQLite, PostgreSQL, Redis and Redis Cluster.
//!
//! Each store runs the same three journeys: a seat handed to a companion,
//! cancelled, handed again and received by the companion's code; four
//! hand-offs of one seat at once, of which exactly one wins; an order
//! transferred to a recipient, and a second transfer refused by the cap.
//!
//! The servers come from the environment at run time
//! (`OTP_TEST_DATABASE_URL`, `OTP_TEST_REDIS_URL`,
//! `OTP_TEST_REDIS_CLUSTER_URLS`); a test whose server is not configured
//! says so and passes, or fails under `CI=true` (see `tests/needs`).

#![cfg(feature = "test-util")]

mod needs;
#[cfg(feature = "redis")]
mod redis_support;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_support;

use std::sync::Arc;

use tokio::sync::Barrier;
use tower_otp::family::{HandOffError, HandOffRefusal, Membership, SeatState};
use tower_otp::flow::SendRequest;
use tower_otp::store::{Policy, Store};
use tower_otp::testing::{CapturingMailer, ManualClock, verified_device};
use tower_otp::transfer::{TransferError, TransferRefusal};
use tower_otp::{EmailAddress, Flow, Locale, Secret, TicketId};

const BUYER: &str = "taro@example.com";
const FRIEND: &str = "hanako@example.com";
const RECIPIENT: &str = "jiro@example.com";
const LINK: &str = "https://shop.example/orders";

/// Seats `{order}-{n}` of order `{order}`; seat 1 is the holder's own.
fn families(id: &TicketId) -> Option<Membership> {
    let (order, n) = id.as_str().rsplit_once('-')?;
    let member = Membership::new(TicketId::new(order), format!("/orders/{order}"));
    Some(if n == "1" {
        member.holders_own()
    } else {
        member
    })
}

fn address(text: &str) -> EmailAddress {
    EmailAddress::parse(text).unwrap()
}

/// A flow with families over `store`, its mailer, and the store itself.
struct Shop {
    flow: Flow,
    mailer: CapturingMailer,
    store: Arc<dyn Store>,
}

impl Shop {
    /// A flow over `store` under a random secret (its ticket keys are its
    /// own on a shared server).
    fn on(store: Arc<dyn Store>) -> Self {
        let mailer = CapturingMailer::new();
        let flow = Flow::new(&Secret::random(), store.clone(), mailer.clone())
            .with_clock(ManualClock::starting_now())
            .with_ticket_families(families);
        Self {
            flow,
            mailer,
            store,
        }
    }

    /// Sells `order`, pre-bound to the buyer.
    async fn sell(&self, order: &TicketId) {
        let key = self.flow.ticket_key(order);
        self.flow.pre_bind(&key, &address(BUYER)).await.unwrap();
    }

    async fn state(&self, seat: &TicketId) -> SeatState {
        let states = self.flow.seat_states(std::slice::from_ref(seat)).await;
        states.unwrap().remove(0)
    }

    /// The address `ticket` is bound to.
    async fn binding(&self, ticket: &TicketId) -> Option<EmailAddress> {
        let key = self.flow.ticket_key(ticket);
        let now = self.flow.now();
        let snapshot = self.store.load(&key, now, &Policy::default()).await;
        snapshot.unwrap().binding
    }
}

fn refused(result: Result<(), HandOffError>) -> HandOffRefusal {
    match result {
        Err(HandOffError::Refused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A seat handed over, refused a second time, cancelled, handed again and
/// received by the companion's code: no longer cancellable.
async fn hand_off_journey(store: Arc<dyn Store>) {
    let shop = Shop::on(store);
    let order = TicketId::new("ord");
    let seat = TicketId::new("ord-2");
    shop.sell(&order).await;
    let holder = verified_device(&shop.flow, &order);
    let friend = address(FRIEND);
    let link = format!("{LINK}/ord/seats/2");
    let flow = &shop.flow;

    let handed = flow.hand_off(&holder, &seat, &friend, &link, Locale::En);
    assert!(handed.await.unwrap().mailed);
    assert!(matches!(shop.state(&seat).await, SeatState::Pending { .. }));
    assert_eq!(shop.binding(&seat).await, Some(friend.clone()));
    let other = address(RECIPIENT);
    let again = flow.hand_off(&holder, &seat, &other, &link, Locale::En);
    assert_eq!(
        refused(again.await.map(|_| ())),
        HandOffRefusal::AlreadyHandedOver
    );
    assert_eq!(shop.binding(&seat).await, Some(friend.clone()), "unchanged");

    flow.cancel_hand_off(&holder, &seat).await.unwrap();
    assert_eq!(shop.state(&seat).await, SeatState::Family);
    assert_eq!(shop.binding(&seat).await, None);

    let handed = flow.hand_off(&holder, &seat, &friend, &link, Locale::En);
    handed.await.unwrap();
    assert!(matches!(shop.state(&seat).await, SeatState::Pending { .. }));
    // The companion, on the seat: a code to the seat's binding.
    let seat_key = flow.ticket_key(&seat);
    flow.send(&seat_key, SendRequest::new(Locale::En))
        .await
        .unwrap();
    let code = shop
        .mailer
        .last_code_for(&friend)
        .expect("a code to the companion");
    let verified = flow.verify(&seat_key, &code).await.unwrap();
    assert!(!verified.newly_bound, "bound by the hand-off");
    assert!(matches!(
        shop.state(&seat).await,
        SeatState::Received { .. }
    ));
    assert_eq!(
        refused(flow.cancel_hand_off(&holder, &seat).await),
        HandOffRefusal::AlreadyReceived
    );
    assert_eq!(shop.binding(&seat).await, Some(friend));
    // The other seats stay with the family.
    assert_eq!(shop.state(&TicketId::new("ord-3")).await, SeatState::Family);
}

/// Four hand-offs of one seat to four addresses at once: exactly one is
/// handed over, the others are refused, and the seat is bound to the winner.
async fn hand_off_race(store: Arc<dyn Store>) {
    let shop = Arc::new(Shop::on(store));
    for round in 0..20 {
        let order = TicketId::new(format!("race{round}"));
        let seat = TicketId::new(format!("race{round}-2"));
        shop.sell(&order).await;
        let barrier = Arc::new(Barrier::new(4));
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let (shop, barrier) = (shop.clone(), barrier.clone());
                let (order, seat) = (order.clone(), seat.clone());
                tokio::spawn(async move {
                    let holder = verified_device(&shop.flow, &order);
                    let to = address(&format!("companion{i}@example.com"));
                    barrier.wait().await;
                    let handed = shop.flow.hand_off(&holder, &seat, &to, LINK, Locale::En);
                    let result = handed.await.map(|_| ());
                    (to, result)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (to, result) = task.await.unwrap();
            match result {
                Ok(()) => winners.push(to),
                refusal => assert_eq!(
                    refused(refusal),
                    HandOffRefusal::AlreadyHandedOver,
                    "round {round}"
                ),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(shop.binding(&seat).await.as_ref(), winners.first());
        assert!(matches!(shop.state(&seat).await, SeatState::Pending { .. }));
    }
}

/// An order given to a recipient: a code to the owner confirms it, the
/// recipient accepts from a device verified on the offer, the binding
/// moves; a second transfer is over the cap.
async fn transfer_journey(store: Arc<dyn Store>) {
    let shop = Shop::on(store);
    let flow = &shop.flow;
    let order = TicketId::new("gift");
    shop.sell(&order).await;
    let owner = verified_device(flow, &order);
    let (buyer, recipient) = (address(BUYER), address(RECIPIENT));

    flow.start_transfer(&owner, &order, &recipient, Locale::En)
        .await
        .unwrap();
    let code = shop
        .mailer
        .last_code_for(&buyer)
        .expect("a code to the owner");
    let link = format!("{LINK}/gift/accept");
    flow.confirm_transfer(&owner, &order, &code, &link, Locale::En)
        .await
        .unwrap();
    let status = flow.transfer_status(&order).await.unwrap();
    assert!(status.pending.is_some_and(|p| p.confirmed));
    let accepting = verified_device(flow, &flow.transfer_id(&order));
    let moved = flow.accept_transfer(&accepting, &order).await.unwrap();
    assert!(moved.generation > 0, "earlier devices are signed out");

    assert_eq!(shop.binding(&order).await, Some(recipient.clone()));
    let key = flow.ticket_key(&order);
    let snapshot = shop.store.load(&key, flow.now(), &Policy::default()).await;
    assert_eq!(snapshot.unwrap().generation, moved.generation);
    let status = flow.transfer_status(&order).await.unwrap();
    assert_eq!((status.done, status.pending), (1, None));

    let new_owner = verified_device(flow, &order);
    let again = flow
        .start_transfer(&new_owner, &order, &buyer, Locale::En)
        .await;
    assert!(
        matches!(
            again,
            Err(TransferError::Refused(TransferRefusal::TooManyTransfers))
        ),
        "{again:?}"
    );
    assert_eq!(shop.binding(&order).await, Some(recipient));
}

/// The three journeys as tests, for the store `$store` builds (an
/// `Option<Arc<dyn Store>>`; `None` when its server is not configured).
macro_rules! journeys {
    ($store:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn hand_off_journey() {
            let Some(store) = ($store) else { return };
            crate::hand_off_journey(store).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn hand_off_race() {
            let Some(store) = ($store) else { return };
            crate::hand_off_race(store).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn transfer_journey() {
            let Some(store) = ($store) else { return };
            crate::transfer_journey(store).await;
        }
    };
}

mod memory {
    use super::*;

    journeys!(Some(
        Arc::new(tower_otp::MemoryStore::new()) as Arc<dyn Store>
    ));
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;

    journeys!(sql_support::sqlite_handles(1).await.pop());
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    journeys!(match sql_support::pg_url() {
        Some(url) => sql_support::pg_handles(&url, 1).await.pop(),
        None => None,
    });
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;

    /// A prefix of the test's own under this run's.
    fn prefix() -> String {
        format!(
            "{}-families-{:08x}",
            *redis_support::RUN_PREFIX,
            rand::random::<u32>()
        )
    }

    mod single_node {
        use super::*;

        journeys!(match redis_support::single_url() {
            Some(url) => Some(Arc::new(
                redis_support::single_store(&url)
                    .await
                    .with_prefix(&prefix())
                    .unwrap()
            ) as Arc<dyn Store>),
            None => None,
        });
    }

    mod cluster {
        use super::*;

        journeys!(match redis_support::cluster_urls() {
            Some(urls) => Some(Arc::new(
                redis_support::cluster_store(&urls)
                    .await
                    .with_prefix(&prefix())
                    .unwrap()
            ) as Arc<dyn Store>),
            None => None,
        });
    }
}
