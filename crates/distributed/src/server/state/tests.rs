//! The scheduler's state machine fed events, no network: placement,
//! recomputation after a lost worker, `KilledWorker`, bad graphs.

use bytes::Bytes;

use super::*;
use crate::messages::{Failure, Msg, Role};

const CLIENT: ConnId = 100;

fn worker(s: &mut ClusterState, conn: ConnId) {
    s.connected(
        conn,
        Role::Worker {
            name: format!("w{conn}"),
            nthreads: 1,
            memory_limit: None,
            peer_addr: format!("127.0.0.1:{}", 9000 + conn),
        },
    );
}

/// A Run of one task: worker, task, inputs to fetch (id, address).
type Sent = (ConnId, u32, Vec<(u32, String)>);

/// Every Run sent.
fn runs(out: &[Out]) -> Vec<Sent> {
    out.iter()
        .filter_map(|o| match &o.msg {
            Msg::Run { tasks, .. } => Some(tasks.iter().map(move |t| {
                let remote = t
                    .deps
                    .iter()
                    .filter_map(|d| d.at.clone().map(|a| (d.id, a)))
                    .collect();
                (o.to, t.id, remote)
            })),
            _ => None,
        })
        .flatten()
        .collect()
}

fn done(s: &mut ClusterState, w: ConnId, comp: u64, id: u32, nbytes: u64, output: bool) {
    let (codec, data) = if output {
        (Some("i64@x".to_string()), vec![Bytes::from_static(b"v")])
    } else {
        (None, vec![])
    };
    s.message(
        w,
        Msg::Done {
            comp,
            id,
            nbytes,
            codec,
        },
        data,
    )
    .unwrap();
}

/// Tasks 0 and 1 (roots) feed 2, the output.
fn submit_diamond(s: &mut ClusterState) -> u64 {
    s.connected(CLIENT, Role::Client);
    s.message(
        CLIENT,
        Msg::Submit {
            comp: 1,
            deps: vec![vec![], vec![], vec![0, 1]],
            priority: vec![0, 1, 2],
            outputs: vec![2],
            externals: vec![],
            hold: false,
            send: true,
            retries: 0,
        },
        vec![Bytes::from_static(b"graph")],
    )
    .unwrap();
    global_id(CLIENT, 1)
}

#[test]
fn places_near_the_bytes_and_recomputes_what_a_dead_worker_held() {
    let mut s = ClusterState::new(SchedulerOptions::default());
    worker(&mut s, 1);
    worker(&mut s, 2);
    let comp = submit_diamond(&mut s);
    let out = s.take_out();
    let r = runs(&out);
    assert_eq!(r.len(), 2, "both roots start at once: {r:?}");
    assert_ne!(r[0].0, r[1].0, "on different workers: {r:?}");
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o.msg, Msg::Graph { .. }))
            .count(),
        2
    );
    let on = |t: u32| r.iter().find(|x| x.1 == t).unwrap().0;
    let (w0, w1) = (on(0), on(1));
    // Task 0's result is large, task 1's small: task 2 goes where 0 is,
    // fetching 1 from its worker.
    done(&mut s, w0, comp, 0, 1_000_000, false);
    done(&mut s, w1, comp, 1, 10, false);
    let r = runs(&s.take_out());
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, w0);
    assert_eq!(r[0].2, vec![(1, format!("127.0.0.1:{}", 9000 + w1))]);
    // The worker holding 1 dies before 2 has read it: 1 is computed again
    // (on the survivor), then 2.
    s.closed(w1);
    let r = runs(&s.take_out());
    assert_eq!(r, vec![(w0, 1, vec![])]);
    // A late report of the first run of 2 is stale and dropped.
    done(&mut s, w0, comp, 2, 8, true);
    assert!(
        s.take_out()
            .iter()
            .all(|o| !matches!(o.msg, Msg::Results { .. }))
    );
    done(&mut s, w0, comp, 1, 10, false);
    let r = runs(&s.take_out());
    assert_eq!(r, vec![(w0, 2, vec![])]);
    done(&mut s, w0, comp, 2, 8, true);
    let out = s.take_out();
    let kinds: Vec<&str> = out.iter().map(|o| o.msg.kind()).collect();
    assert!(
        kinds.contains(&"Results") && kinds.contains(&"Finished") && kinds.contains(&"Forget"),
        "{kinds:?}"
    );
    // 0 and 1 were released on the worker once 2 had read them.
    let released: Vec<u32> = out
        .iter()
        .filter_map(|o| match &o.msg {
            Msg::Release { ids, .. } => Some(ids.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(released.len(), 2, "{released:?}");
}

#[test]
fn a_task_on_too_many_dying_workers_is_a_killed_worker() {
    let mut s = ClusterState::new(SchedulerOptions::default());
    s.connected(CLIENT, Role::Client);
    s.message(
        CLIENT,
        Msg::Submit {
            comp: 7,
            deps: vec![vec![]],
            priority: vec![0],
            outputs: vec![0],
            externals: vec![],
            hold: false,
            send: true,
            retries: 0,
        },
        vec![Bytes::from_static(b"g")],
    )
    .unwrap();
    for w in 1..=4 {
        worker(&mut s, w);
        assert_eq!(runs(&s.take_out()).len(), 1, "sent to worker {w}");
        s.closed(w);
    }
    let out = s.take_out();
    let failed = out.iter().find_map(|o| match &o.msg {
        Msg::Failed {
            comp: 7,
            failure:
                Failure::KilledWorker {
                    task,
                    worker,
                    failures,
                },
        } => Some((*task, worker.clone(), *failures)),
        _ => None,
    });
    assert_eq!(failed, Some((0, "w4".to_string(), 4)));
}

#[test]
fn bad_graphs_and_strangers_are_refused() {
    let mut s = ClusterState::new(SchedulerOptions::default());
    s.connected(CLIENT, Role::Client);
    let submit = |deps: Vec<Vec<u32>>, outputs: Vec<u32>| Msg::Submit {
        comp: 1,
        priority: vec![0; deps.len()],
        deps,
        outputs,
        externals: vec![],
        hold: false,
        send: true,
        retries: 0,
    };
    let g = || vec![Bytes::from_static(b"g")];
    for (m, says) in [
        (submit(vec![vec![1], vec![0]], vec![0]), "cycle"),
        (submit(vec![vec![5]], vec![0]), "dependency #5"),
        (submit(vec![vec![]], vec![3]), "output #3"),
    ] {
        s.message(CLIENT, m, g()).unwrap();
        let out = s.take_out();
        let text = format!("{:?}", out[0].msg);
        assert!(text.contains("BadGraph") && text.contains(says), "{text}");
    }
    // A worker's message from a client, and anything from an unknown peer.
    assert!(
        s.message(
            CLIENT,
            Msg::Heartbeat {
                memory: Default::default()
            },
            vec![]
        )
        .is_err()
    );
    assert!(s.message(55, Msg::Cancel { comp: 1 }, vec![]).is_err());
}

#[test]
fn an_empty_graph_finishes_at_once_and_a_leaving_client_is_forgotten() {
    let mut s = ClusterState::new(SchedulerOptions::default());
    worker(&mut s, 1);
    s.connected(CLIENT, Role::Client);
    let empty = Msg::Submit {
        comp: 2,
        deps: vec![],
        priority: vec![],
        outputs: vec![],
        externals: vec![],
        hold: false,
        send: true,
        retries: 0,
    };
    s.message(CLIENT, empty, vec![Bytes::new()]).unwrap();
    assert!(matches!(s.take_out()[0].msg, Msg::Finished { comp: 2 }));
    let comp = submit_diamond(&mut s);
    assert_eq!(runs(&s.take_out()).len(), 2);
    s.closed(CLIENT);
    let out = s.take_out();
    assert!(
        out.iter()
            .any(|o| matches!(o.msg, Msg::Forget { comp: c } if c == comp))
    );
}

#[test]
fn a_silent_worker_is_dropped_and_its_work_goes_elsewhere() {
    let mut s = ClusterState::new(SchedulerOptions {
        worker_timeout: Duration::from_secs(5),
        ..SchedulerOptions::default()
    });
    worker(&mut s, 1);
    s.connected(CLIENT, Role::Client);
    s.message(
        CLIENT,
        Msg::Submit {
            comp: 3,
            deps: vec![vec![]],
            priority: vec![0],
            outputs: vec![0],
            externals: vec![],
            hold: false,
            send: true,
            retries: 0,
        },
        vec![Bytes::from_static(b"g")],
    )
    .unwrap();
    assert_eq!(runs(&s.take_out()), vec![(1, 0, vec![])]);
    worker(&mut s, 2);
    s.message(
        2,
        Msg::Heartbeat {
            memory: Default::default(),
        },
        vec![],
    )
    .unwrap();
    s.tick(Instant::now() + Duration::from_secs(3));
    assert!(s.to_close.is_empty(), "not silent long enough");
    s.tick(Instant::now() + Duration::from_secs(6));
    // Both went silent in this test's clock; the first is dropped and its
    // task sent to a live worker, unless none is left.
    assert!(s.to_close.contains(&1));
}
