//! The rules as tables of named cases: a record, a call, the outcome, and
//! what the record holds afterwards.

use super::*;
use crate::code::CodeHash;
use crate::store::{AddressKey, ClaimRequest, CounterKeys};
use crate::ticket::TicketKey;

const S: u64 = 1000;

fn key0() -> TicketKey {
    TicketKey::from_bytes([0; 16])
}

fn t(secs: u64) -> Timestamp {
    Timestamp::from_millis(1_800_000_000_000 + secs * S)
}

fn addr(name: &str) -> EmailAddress {
    EmailAddress::parse(&format!("{name}@example.com")).unwrap()
}

fn hash(n: u8) -> CodeHash {
    CodeHash::from_bytes([n; 32])
}

/// A ticket with a pending challenge to `to`: codes `(hash, issued at)`, valid 300 s.
fn pending(to: &str, codes: &[(u8, u64)]) -> TicketRecord {
    let codes: Vec<_> = codes
        .iter()
        .map(|&(n, at)| CodeRecord::new(hash(n), t(at), t(at + 300)))
        .collect();
    let round_until = codes.iter().map(|c| c.expires_at).max().unwrap_or_default();
    let sends: Vec<_> = codes.iter().map(|c| c.issued_at).collect();
    TicketRecord {
        challenge: Some(Box::new(Challenge {
            address: Some(addr(to)),
            codes,
            sends,
            round_until,
            keep_until: t(3600),
            ..Challenge::default()
        })),
        ..TicketRecord::default()
    }
}

fn with(mut ticket: TicketRecord, change: impl FnOnce(&mut TicketRecord)) -> TicketRecord {
    change(&mut ticket);
    ticket
}

fn challenge(ticket: &mut TicketRecord) -> &mut Challenge {
    ticket.challenge.as_mut().unwrap()
}

#[test]
fn verify_table() {
    let policy = Policy::default();
    let taro = || addr("taro");
    #[allow(clippy::type_complexity)]
    let cases: Vec<(
        &str,
        TicketRecord,
        u8,
        u64,
        VerifyOutcome,
        fn(&TicketRecord) -> bool,
    )> = vec![
        (
            "nothing issued",
            TicketRecord::default(),
            1,
            0,
            VerifyOutcome::NoCode,
            |r| r.is_empty(),
        ),
        (
            "withdrawn: a challenge without codes",
            pending("taro", &[]),
            1,
            0,
            VerifyOutcome::NoCode,
            |r| r.consecutive_failures == 0,
        ),
        (
            "locked out, even with the right code",
            with(pending("taro", &[(1, 0)]), |r| {
                challenge(r).locked_until = t(100)
            }),
            1,
            10,
            VerifyOutcome::Locked { until: t(100) },
            |r| r.binding.is_none(),
        ),
        (
            "the round is exhausted",
            with(pending("taro", &[(1, 0)]), |r| {
                challenge(r).exhausted = true
            }),
            1,
            10,
            VerifyOutcome::Exhausted,
            |r| r.binding.is_none(),
        ),
        (
            "codes expired: not counted",
            pending("taro", &[(1, 0)]),
            1,
            300,
            VerifyOutcome::Expired,
            |r| r.challenge.as_ref().unwrap().attempts == 0,
        ),
        (
            "an older live code binds",
            pending("taro", &[(1, 0), (2, 60)]),
            1,
            299,
            VerifyOutcome::Verified {
                address: taro(),
                newly_bound: true,
                earlier_device: false,
                generation: 0,
                previous_locale: None,
            },
            |r| r.binding == Some(addr("taro")) && r.challenge.as_ref().unwrap().codes.is_empty(),
        ),
        (
            "bound to the same address: not newly bound",
            with(pending("taro", &[(1, 0)]), |r| {
                r.binding = Some(addr("taro"))
            }),
            1,
            1,
            VerifyOutcome::Verified {
                address: taro(),
                newly_bound: false,
                earlier_device: false,
                generation: 0,
                previous_locale: None,
            },
            |r| {
                let c = r.challenge.as_ref().unwrap();
                c.codes.is_empty() && c.address.is_none()
            },
        ),
        (
            "a success resets the failures",
            with(pending("taro", &[(1, 0)]), |r| r.consecutive_failures = 19),
            1,
            1,
            VerifyOutcome::Verified {
                address: taro(),
                newly_bound: true,
                earlier_device: false,
                generation: 0,
                previous_locale: None,
            },
            |r| r.consecutive_failures == 0,
        ),
        (
            "a code sent to another address than the binding is void",
            with(pending("hanako", &[(1, 0)]), |r| {
                r.binding = Some(addr("taro"))
            }),
            1,
            1,
            VerifyOutcome::Wrong {
                attempts_left: 4,
                locked_until: None,
            },
            |r| r.binding == Some(addr("taro")),
        ),
        (
            "a wrong code counts",
            pending("taro", &[(1, 0)]),
            9,
            1,
            VerifyOutcome::Wrong {
                attempts_left: 4,
                locked_until: None,
            },
            |r| r.consecutive_failures == 1 && r.challenge.as_ref().unwrap().attempts == 1,
        ),
        (
            "the fifth wrong code voids the round",
            with(pending("taro", &[(1, 0)]), |r| challenge(r).attempts = 4),
            9,
            1,
            VerifyOutcome::Wrong {
                attempts_left: 0,
                locked_until: None,
            },
            |r| {
                let c = r.challenge.as_ref().unwrap();
                c.exhausted && c.codes.is_empty()
            },
        ),
        (
            "the twentieth consecutive failure locks for an hour",
            with(pending("taro", &[(1, 0)]), |r| r.consecutive_failures = 19),
            9,
            1,
            VerifyOutcome::Wrong {
                attempts_left: 4,
                locked_until: Some(t(3601)),
            },
            |r| {
                let c = r.challenge.as_ref().unwrap();
                r.consecutive_failures == 0 && c.locked_until == t(3601) && c.keep_until >= t(3601)
            },
        ),
    ];
    let ticket = TicketKey::from_bytes([0; 16]);
    for (name, mut record, code, at, expected, after) in cases {
        let code = hash(code);
        let outcome = verify(
            &mut record,
            &VerifyRequest::new(&ticket, &code, t(at), &policy),
        );
        assert_eq!(outcome, expected, "{name}");
        assert!(after(&record), "{name}: {record:?}");
    }
}

#[test]
fn issue_table() {
    let policy = Policy::default();
    let full = |n: usize| AddressSends {
        sends: (0..n as u64).map(|i| t(i * 10)).collect(),
        keep_until: t(3600),
    };
    #[allow(clippy::type_complexity)]
    let cases: Vec<(
        &str,
        TicketRecord,
        AddressSends,
        &str,
        u64,
        IssueOutcome,
        fn(&TicketRecord) -> bool,
    )> = vec![
        (
            "first send",
            TicketRecord::default(),
            AddressSends::default(),
            "taro",
            0,
            IssueOutcome::Issued {
                expires_at: t(300),
                next_send_at: t(60),
                bound: false,
                attempts_used: 0,
            },
            |r| r.challenge.as_ref().unwrap().codes.len() == 1,
        ),
        (
            "bound to another address",
            with(TicketRecord::default(), |r| {
                r.binding = Some(addr("hanako"))
            }),
            AddressSends::default(),
            "taro",
            0,
            IssueOutcome::BoundElsewhere,
            |r| r.challenge.is_none(),
        ),
        (
            "locked out",
            with(pending("taro", &[(1, 0)]), |r| {
                challenge(r).locked_until = t(4000)
            }),
            AddressSends::default(),
            "taro",
            1000,
            IssueOutcome::Locked { until: t(4000) },
            |r| r.challenge.as_ref().unwrap().codes.len() == 1,
        ),
        (
            "within the first cooldown",
            pending("taro", &[(1, 0)]),
            AddressSends::default(),
            "taro",
            59,
            IssueOutcome::TicketThrottled { retry_at: t(60) },
            |r| r.challenge.as_ref().unwrap().sends.len() == 1,
        ),
        (
            "the cooldown grows: 120 s after the second send",
            pending("taro", &[(1, 0), (2, 60)]),
            AddressSends::default(),
            "taro",
            179,
            IssueOutcome::TicketThrottled { retry_at: t(180) },
            |_| true,
        ),
        (
            "the address's hourly cap, across tickets",
            TicketRecord::default(),
            full(10),
            "taro",
            100,
            IssueOutcome::AddressThrottled {
                retry_at: t(3600),
                budget: SendBudget::Mailbox,
            },
            |r| r.challenge.is_none(),
        ),
        (
            "a resend carries the round's attempts",
            with(pending("taro", &[(1, 0)]), |r| challenge(r).attempts = 3),
            AddressSends::default(),
            "taro",
            60,
            IssueOutcome::Issued {
                expires_at: t(360),
                next_send_at: t(180),
                bound: false,
                attempts_used: 3,
            },
            |r| {
                let c = r.challenge.as_ref().unwrap();
                c.attempts == 3 && c.codes.len() == 2
            },
        ),
        (
            "an exhausted round starts afresh",
            with(pending("taro", &[(1, 0)]), |r| {
                let c = challenge(r);
                c.attempts = 5;
                c.exhausted = true;
            }),
            AddressSends::default(),
            "taro",
            60,
            IssueOutcome::Issued {
                expires_at: t(360),
                next_send_at: t(180),
                bound: false,
                attempts_used: 0,
            },
            |r| {
                let c = r.challenge.as_ref().unwrap();
                c.attempts == 0 && !c.exhausted
            },
        ),
        (
            "another address replaces the pending one and its codes",
            with(pending("taro", &[(1, 0)]), |r| challenge(r).attempts = 2),
            AddressSends::default(),
            "hanako",
            60,
            IssueOutcome::Issued {
                expires_at: t(360),
                next_send_at: t(180),
                bound: false,
                attempts_used: 2,
            },
            |r| {
                let c = r.challenge.as_ref().unwrap();
                c.address == Some(addr("hanako")) && c.codes.len() == 1 && c.attempts == 2
            },
        ),
        (
            "only the last three codes stay",
            with(pending("taro", &[(1, 0), (2, 60), (3, 180)]), |r| {
                challenge(r).sends.clear()
            }),
            AddressSends::default(),
            "taro",
            200,
            IssueOutcome::Issued {
                expires_at: t(500),
                next_send_at: t(260),
                bound: false,
                attempts_used: 0,
            },
            |r| {
                let c = r.challenge.as_ref().unwrap();
                c.codes.len() == 3 && !c.codes[0].hash.ct_eq(&hash(1))
            },
        ),
    ];
    let ticket = TicketKey::from_bytes([0; 16]);
    let keys = keys();
    for (name, mut record, counter, to, at, expected, after) in cases {
        let (to, code) = (addr(to), hash(42));
        let request = IssueRequest::new(&ticket, &to, &keys, &code, t(at), &policy);
        // The case's counter is the first one checked (the mailbox's, or
        // the owner's on a ticket bound to `to`).
        let before = counter.sends.len();
        let mut counters = vec![counter];
        counters.resize_with(budgets(&record, &request).len(), AddressSends::default);
        let outcome = issue(&mut record, &mut counters, &request);
        assert_eq!(outcome, expected, "{name}");
        assert!(after(&record), "{name}: {record:?}");
        let counted = matches!(outcome, IssueOutcome::Issued { .. });
        assert_eq!(
            counters[0].sends.len(),
            before + usize::from(counted),
            "{name}: address counter"
        );
    }
}

fn keys() -> CounterKeys {
    let k = |b| AddressKey::from_bytes([b; 16]);
    CounterKeys::new(k(1), k(2), k(3), k(4))
}

#[test]
fn budgets_table() {
    let keys = keys();
    let (ticket, code) = (TicketKey::from_bytes([0; 16]), hash(1));
    let policy = Policy::default();
    let taro = addr("taro");
    let budget = |key, cap, name| Budget { key, cap, name };
    let request = |policy| IssueRequest::new(&ticket, &taro, &keys, &code, t(0), policy);
    let unbound = TicketRecord::default();
    let mine = with(TicketRecord::default(), |r| r.binding = Some(addr("taro")));
    let theirs = with(TicketRecord::default(), |r| {
        r.binding = Some(addr("hanako"))
    });
    let domain = keys.domain.unwrap();
    let strangers = vec![
        budget(keys.mailbox, 10, SendBudget::Mailbox),
        budget(domain, 100, SendBudget::Domain),
    ];
    assert_eq!(budgets(&unbound, &request(&policy)), strangers, "unbound");
    assert_eq!(
        budgets(&theirs, &request(&policy)),
        strangers,
        "bound elsewhere"
    );
    let owner = budget(keys.owner, 10, SendBudget::Owner);
    assert_eq!(
        budgets(&mine, &request(&policy)),
        vec![owner],
        "the owner's sends count apart"
    );
    let mut policy = policy.clone();
    policy.sends_site_wide = 500;
    assert_eq!(
        budgets(&unbound, &request(&policy))[2],
        budget(keys.site, 500, SendBudget::Site),
        "the site when it has a budget"
    );
    assert_eq!(budgets(&mine, &request(&policy)).len(), 1);

    // A known client counts on either side, under the policy's client cap.
    let client = AddressKey::from_bytes([9; 16]);
    let with_client = keys.with_client(Some(client));
    let request = |policy| IssueRequest::new(&ticket, &taro, &with_client, &code, t(0), policy);
    let mine_then_client = budgets(&mine, &request(&policy));
    assert_eq!(
        mine_then_client,
        vec![owner, budget(client, 4, SendBudget::Client)]
    );
    let theirs_then_client = budgets(&theirs, &request(&policy));
    assert_eq!(theirs_then_client.len(), 4);
    assert_eq!(theirs_then_client[3], budget(client, 4, SendBudget::Client));
    let no_client_cap = Policy {
        sends_per_client: 0,
        ..policy.clone()
    };
    assert_eq!(
        budgets(&mine, &request(&no_client_cap)),
        vec![owner],
        "no client cap"
    );

    // A provider whose spellings are all known has no domain budget.
    let no_domain = keys.without_domain();
    let request = IssueRequest::new(&ticket, &taro, &no_domain, &code, t(0), &policy);
    let names: Vec<_> = budgets(&unbound, &request).iter().map(|b| b.name).collect();
    assert_eq!(names, vec![SendBudget::Mailbox, SendBudget::Site]);
}

#[test]
fn claims_lapse_unless_bound() {
    let policy = Policy {
        claim_lifetime: Duration::from_secs(100),
        ..Policy::default()
    };
    let mut record = TicketRecord::default();
    assert_eq!(
        claim(
            &mut record,
            None,
            &ClaimRequest::new(&key0(), t(0), &policy)
        ),
        ClaimOutcome::Claimed { generation: 0 }
    );
    assert_eq!(record.claim_until, t(100));
    assert!(record.claim_live(t(99)) && !record.claim_live(t(100)));
    assert_eq!(
        claim(
            &mut record,
            None,
            &ClaimRequest::new(&key0(), t(99), &policy)
        ),
        ClaimOutcome::Refused
    );
    assert!(!record.sweep(t(99)) && !record.is_empty());
    assert!(record.sweep(t(100)) && record.is_empty(), "{record:?}");
    assert_eq!(
        claim(
            &mut record,
            None,
            &ClaimRequest::new(&key0(), t(100), &policy)
        ),
        ClaimOutcome::Claimed { generation: 0 }
    );
    let mut bound = with(record.clone(), |r| r.binding = Some(addr("taro")));
    assert!(bound.claim_live(t(1000)) && !bound.sweep(t(1000)) && bound.claimed);
    assert_eq!(bound.claim_lapses_at(), None);
    let legacy = with(TicketRecord::default(), |r| r.claimed = true);
    assert!(
        legacy.claim_live(t(1_000_000)),
        "claims kept before claims lapsed never lapse"
    );
}

#[test]
fn verify_remembers_devices() {
    let policy = Policy::default();
    let ticket = TicketKey::from_bytes([0; 16]);
    let code = hash(1);
    let request = VerifyRequest::new(&ticket, &code, t(1), &policy);
    let earlier = |record: &mut TicketRecord| match verify(record, &request) {
        VerifyOutcome::Verified { earlier_device, .. } => earlier_device,
        other => panic!("{other:?}"),
    };
    let prebound = || {
        with(pending("taro", &[(1, 0)]), |r| {
            r.binding = Some(addr("taro"))
        })
    };
    let mut record = prebound();
    assert!(
        !earlier(&mut record),
        "the first device of a pre-bound ticket"
    );
    assert!(record.verified);
    let mut again = with(prebound(), |r| r.verified = true);
    assert!(earlier(&mut again), "a device was verified before");
    let mut claimed = with(pending("taro", &[(1, 0)]), |r| r.claimed = true);
    assert!(earlier(&mut claimed), "a first device was claimed");
    let mut lapsed = with(pending("taro", &[(1, 0)]), |r| {
        r.claimed = true;
        r.claim_until = t(1);
    });
    assert!(!earlier(&mut lapsed), "a lapsed claim is no device");
}

#[test]
fn claim_bind_restart_revoke_table() {
    let policy = Policy::default();
    let claimed = || with(TicketRecord::default(), |r| r.claimed = true);
    let bound = || with(TicketRecord::default(), |r| r.binding = Some(addr("taro")));

    assert_eq!(
        claim(
            &mut TicketRecord::default(),
            None,
            &ClaimRequest::new(&key0(), t(0), &policy)
        ),
        ClaimOutcome::Claimed { generation: 0 }
    );
    assert_eq!(
        claim(
            &mut claimed(),
            None,
            &ClaimRequest::new(&key0(), t(0), &policy)
        ),
        ClaimOutcome::Refused,
        "claimed already"
    );
    assert_eq!(
        claim(
            &mut bound(),
            None,
            &ClaimRequest::new(&key0(), t(0), &policy)
        ),
        ClaimOutcome::Refused,
        "bound"
    );
    let mut revoked = with(TicketRecord::default(), |r| r.generation = 2);
    assert_eq!(
        claim(
            &mut revoked,
            None,
            &ClaimRequest::new(&key0(), t(0), &policy)
        ),
        ClaimOutcome::Claimed { generation: 2 }
    );

    let key = TicketKey::from_bytes([1; 16]);
    let (taro, hanako) = (addr("taro"), addr("hanako"));
    let binds = |a| BindRequest::new(&key, a, t(5)).with_locale(Some(Locale::Ja));
    let mut record = claimed();
    assert_eq!(bind(&mut record, &binds(&taro)), BindOutcome::Bound);
    assert_eq!(
        (record.bound_locale, record.bound_at),
        (Some(Locale::Ja), t(5))
    );
    assert_eq!(
        bind(&mut bound(), &binds(&taro)),
        BindOutcome::AlreadyBound { same: true }
    );
    let mut record = bound();
    assert_eq!(
        bind(&mut record, &binds(&hanako)),
        BindOutcome::AlreadyBound { same: false }
    );
    assert_eq!(
        (record.bound_locale, record.bound_at),
        (None, Timestamp::default())
    );

    let mut record = with(pending("taro", &[(1, 0)]), |r| challenge(r).attempts = 2);
    assert_eq!(restart(&mut record), RestartOutcome::Restarted);
    let c = record.challenge.as_ref().unwrap();
    assert!(
        c.address.is_none() && c.codes.is_empty(),
        "codes and address go"
    );
    assert_eq!(
        (c.attempts, c.sends.len()),
        (2, 1),
        "attempts and sends stay"
    );
    let mut record = with(pending("taro", &[(1, 0)]), |r| {
        r.binding = Some(addr("taro"))
    });
    assert_eq!(restart(&mut record), RestartOutcome::Bound);
    assert_eq!(record.challenge.as_ref().unwrap().codes.len(), 1);

    let mut record = TicketRecord::default();
    assert_eq!((revoke(&mut record), revoke(&mut record)), (1, 2));
}

#[test]
fn withdraw_takes_back_the_code_and_both_sends() {
    let policy = Policy::default();
    let ticket = TicketKey::from_bytes([0; 16]);
    let keys = keys();
    let (to, code) = (addr("taro"), hash(42));
    let mut record = TicketRecord::default();
    let mut counters = vec![AddressSends::default(), AddressSends::default()];
    let request = IssueRequest::new(&ticket, &to, &keys, &code, t(0), &policy);
    issue(&mut record, &mut counters, &request);
    assert!(counters.iter().all(|c| c.sends.len() == 1));
    withdraw(&mut record, &mut counters, &request);
    assert!(counters.iter().all(AddressSends::is_empty));
    let c = record.challenge.as_ref().unwrap();
    assert!(c.codes.is_empty() && c.sends.is_empty(), "{record:?}");
    assert_eq!(
        c.round_until,
        t(300),
        "the round goes on until the code's expiry"
    );
}

#[test]
fn sweep_keeps_the_long_lived_facts() {
    let mut record = with(pending("taro", &[(1, 0)]), |r| {
        r.claimed = true;
        r.consecutive_failures = 3;
    });
    assert!(!record.sweep(t(3599)));
    assert!(record.challenge.is_some());
    assert!(record.sweep(t(3600)));
    assert!(record.challenge.is_none() && record.claimed && record.consecutive_failures == 3);
    let mut load_view = pending("taro", &[(1, 0)]);
    assert!(load_view.sweep(t(3600)) && load_view.is_empty());
}

/// The bound locale: set when a code binds, replaced by the page of each
/// later verification that names one, and reported as it was before.
#[test]
fn bound_locale_follows_the_owner() {
    let policy = Policy::default();
    let key = TicketKey::from_bytes([1; 16]);
    let check = |record: &mut TicketRecord, n: u8, at: u64, locale: Option<Locale>| {
        let code = hash(n);
        let request = VerifyRequest::new(&key, &code, t(at), &policy).with_locale(locale);
        match verify(record, &request) {
            VerifyOutcome::Verified {
                previous_locale, ..
            } => previous_locale,
            other => panic!("{other:?}"),
        }
    };
    let mut record = pending("taro", &[(1, 0)]);
    assert_eq!(check(&mut record, 1, 1, Some(Locale::Ko)), None);
    assert_eq!(
        (record.bound_locale, record.bound_at),
        (Some(Locale::Ko), t(1))
    );
    let s = load(&record, t(2), &policy);
    assert_eq!(
        (s.bound_locale, s.bound_at),
        (Some(Locale::Ko), Some(t(2 - 1)))
    );

    // A new device on an English page: the notice goes in Korean, and English
    // is remembered for the next one.
    let mut record = with(record, |r| {
        r.challenge = pending("taro", &[(2, 10)]).challenge;
    });
    assert_eq!(
        check(&mut record, 2, 11, Some(Locale::En)),
        Some(Locale::Ko)
    );
    assert_eq!(record.bound_locale, Some(Locale::En));
    assert_eq!(record.bound_at, t(1), "the binding keeps its time");

    // No page language: the bound locale stays.
    let mut record = with(record, |r| {
        r.challenge = pending("taro", &[(3, 20)]).challenge;
    });
    assert_eq!(check(&mut record, 3, 21, None), Some(Locale::En));
    assert_eq!(record.bound_locale, Some(Locale::En));
}

/// The support actions, each on a record as a table of what it keeps and
/// what it drops.
#[test]
fn support_actions_table() {
    let key = TicketKey::from_bytes([1; 16]);
    // Bound to taro (Korean, at 5 s), verified, a code pending, 2 wrong
    // entries, 7 consecutive failures, locked until 900 s, generation 3.
    let full = || {
        with(pending("taro", &[(1, 0)]), |r| {
            r.binding = Some(addr("taro"));
            r.bound_locale = Some(Locale::Ko);
            r.bound_at = t(5);
            r.verified = true;
            r.claimed = true;
            r.generation = 3;
            r.consecutive_failures = 7;
            challenge(r).attempts = 2;
            challenge(r).locked_until = t(900);
        })
    };

    let mut r = full();
    let out = unbind(&mut r);
    assert_eq!((out.previous, out.generation), (Some(addr("taro")), 4));
    assert!(r.binding.is_none() && r.bound_locale.is_none() && !r.verified);
    assert_eq!(r.bound_at, Timestamp::default());
    assert!(r.claimed && r.claim_live(t(10_000_000)), "claimed for good");
    let c = r.challenge.as_ref().unwrap();
    assert!(c.address.is_none() && c.codes.is_empty());
    assert_eq!((c.attempts, c.locked_until), (2, t(900)), "the guards stay");
    assert_eq!(r.consecutive_failures, 7);

    let hanako = addr("hanako");
    let mut r = full();
    let request = BindRequest::new(&key, &hanako, t(50)).with_locale(Some(Locale::En));
    assert_eq!(
        rebind(&mut r, &request),
        RebindOutcome::Rebound {
            previous: Some(addr("taro")),
            previous_locale: Some(Locale::Ko),
            generation: 4,
        }
    );
    assert_eq!(r.binding, Some(hanako.clone()));
    assert_eq!((r.bound_locale, r.bound_at), (Some(Locale::En), t(50)));
    assert_eq!(r.generation, 4, "devices are revoked");
    assert!(!r.verified, "no device of the new owner's yet");
    assert!(
        r.challenge.as_ref().is_none_or(|c| c.sends.is_empty()),
        "the old address's sends are forgotten"
    );
    assert!(r.challenge.as_ref().unwrap().codes.is_empty());
    assert_eq!(rebind(&mut r, &request), RebindOutcome::Unchanged);

    let mut r = full();
    assert_eq!(
        clear_lockout(&mut r, t(10)),
        LockoutCleared {
            locked_until: Some(t(900)),
            consecutive_failures: 7,
        }
    );
    assert_eq!(r.consecutive_failures, 0);
    let c = r.challenge.as_ref().unwrap();
    assert_eq!((c.locked_until, c.attempts), (Timestamp::default(), 0));
    assert!(
        c.codes.is_empty() && c.sends.is_empty() && !c.exhausted,
        "the round and the sends are reset"
    );
    assert_eq!(r.binding, Some(addr("taro")));
    // A lockout already over is not reported, but the count is still reset.
    let mut r = full();
    assert_eq!(clear_lockout(&mut r, t(900)).locked_until, None);
    // Nothing to clear on an empty record, which stays empty.
    let mut r = TicketRecord::default();
    assert_eq!(clear_lockout(&mut r, t(0)), LockoutCleared::default());
    assert!(r.is_empty());
}

/// `withdraw_binding`: refused (the record as it was) unless the ticket is
/// bound, unverified and at the generation given; then exactly `unbind`.
#[test]
fn withdraw_binding_table() {
    // Bound to taro (Korean, at 5 s), a code pending, 2 wrong entries, 7
    // consecutive failures, locked until 900 s, generation 3; not verified.
    let bound = || {
        with(pending("taro", &[(1, 0)]), |r| {
            r.binding = Some(addr("taro"));
            r.bound_locale = Some(Locale::Ko);
            r.bound_at = t(5);
            r.generation = 3;
            r.consecutive_failures = 7;
            challenge(r).attempts = 2;
            challenge(r).locked_until = t(900);
        })
    };
    let refused: Vec<(&str, TicketRecord, u64)> = vec![
        ("unknown ticket", TicketRecord::default(), 0),
        (
            "unbound, claimed, a code pending",
            with(pending("taro", &[(1, 0)]), |r| {
                r.claimed = true;
                r.claim_until = t(100);
            }),
            0,
        ),
        (
            "unbound at the generation",
            with(bound(), |r| r.binding = None),
            3,
        ),
        ("an older generation", bound(), 2),
        ("a newer generation", bound(), 4),
        ("a device verified", with(bound(), |r| r.verified = true), 3),
    ];
    for (name, record, generation) in refused {
        let mut r = record.clone();
        assert_eq!(withdraw_binding(&mut r, generation), None, "{name}");
        assert_eq!(format!("{r:?}"), format!("{record:?}"), "{name}: unchanged");
    }

    let (mut withdrawn, mut unbound) = (bound(), bound());
    assert_eq!(withdraw_binding(&mut withdrawn, 3), Some(4));
    let out = unbind(&mut unbound);
    assert_eq!(out.generation, 4);
    assert_eq!(
        format!("{withdrawn:?}"),
        format!("{unbound:?}"),
        "what unbind does"
    );
    assert!(withdrawn.binding.is_none() && withdrawn.claimed && !withdrawn.verified);
    let c = withdrawn.challenge.as_ref().unwrap();
    assert!(c.address.is_none() && c.codes.is_empty());
    assert_eq!((c.attempts, c.locked_until), (2, t(900)), "the guards stay");
    // The binding is gone: a second withdrawal is refused.
    assert_eq!(withdraw_binding(&mut withdrawn, 4), None);
}

#[test]
fn unvouched_claims_lapse_soon_and_count_per_client() {
    let policy = Policy {
        unvouched_claims_per_client: 2,
        ..Policy::default()
    };
    let client = AddressKey::from_bytes([3; 16]);
    let ticket = key0();
    let mut counter = AddressSends::default();
    let claim_at = |record: &mut TicketRecord, counter: &mut AddressSends, at| {
        let r = ClaimRequest::new(&ticket, at, &policy).unvouched(Some(client));
        claim(record, Some(counter), &r)
    };
    let mut a = TicketRecord::default();
    let claimed = ClaimOutcome::Claimed { generation: 0 };
    assert_eq!(claim_at(&mut a, &mut counter, t(0)), claimed);
    assert_eq!(a.claim_until, t(86_400), "a day, not thirty");
    // A refused claim (already claimed) counts nothing.
    assert_eq!(claim_at(&mut a, &mut counter, t(1)), ClaimOutcome::Refused);
    assert_eq!(counter.sends, vec![t(0)]);
    assert_eq!(
        claim_at(&mut TicketRecord::default(), &mut counter, t(2)),
        claimed
    );
    // At the cap: refused, nothing claimed, nothing counted.
    let mut c = TicketRecord::default();
    assert_eq!(
        claim_at(&mut c, &mut counter, t(3)),
        ClaimOutcome::Throttled { retry_at: t(3600) }
    );
    assert!(c.is_empty());
    assert_eq!(counter.sends.len(), 2);
    // The window moves on.
    assert_eq!(claim_at(&mut c, &mut counter, t(3600)), claimed);
    // A vouched claim is neither counted nor short.
    let mut v = TicketRecord::default();
    let r = ClaimRequest::new(&ticket, t(4000), &policy);
    assert_eq!(claim(&mut v, Some(&mut counter), &r), claimed);
    assert_eq!(v.claim_until, t(4000 + 30 * 86_400));
    assert_eq!(counter.sends.len(), 2);
}
