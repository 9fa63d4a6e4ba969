//! The scheduler's state machine fed events, no network: placement,
//! recomputation after a lost worker, `KilledWorker`, bad graphs.

use bytes::Bytes;

use super::*;
use crate::messages::{DepAt, External, Failure, Msg, Role};

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

fn submit_msg(comp: u64, deps: Vec<Vec<u32>>, outputs: Vec<u32>, externals: Vec<External>) -> Msg {
    Msg::Submit {
        comp,
        priority: (0..deps.len() as u32).collect(),
        deps,
        outputs,
        externals,
        hold: true,
        send: true,
        retries: 0,
    }
}

fn graph() -> Vec<Bytes> {
    vec![Bytes::from_static(b"g")]
}

/// Every Run sent, with the full input descriptions.
fn run_deps(out: &[Out]) -> Vec<(ConnId, u32, Vec<DepAt>)> {
    out.iter()
        .filter_map(|o| match &o.msg {
            Msg::Run { tasks, .. } => Some(tasks.iter().map(move |t| (o.to, t.id, t.deps.clone()))),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn a_future_is_read_where_it_is_held_and_kept_until_cancelled() {
    let mut s = ClusterState::new(SchedulerOptions::default());
    worker(&mut s, 1);
    worker(&mut s, 2);
    s.connected(CLIENT, Role::Client);
    // Computation 1: one task, its result held after it is delivered.
    s.message(
        CLIENT,
        submit_msg(1, vec![vec![]], vec![0], vec![]),
        graph(),
    )
    .unwrap();
    let first = runs(&s.take_out());
    let holder = first[0].0;
    // Computation 2 reads it through a placeholder (task 0), submitted
    // before the result exists: nothing runs until it does.
    let ext = External {
        id: 0,
        comp: 1,
        task: 0,
    };
    s.message(
        CLIENT,
        submit_msg(2, vec![vec![], vec![0]], vec![1], vec![ext]),
        graph(),
    )
    .unwrap();
    assert!(
        runs(&s.take_out()).is_empty(),
        "its input is not computed yet"
    );
    done(&mut s, holder, global_id(CLIENT, 1), 0, 1 << 20, true);
    let out = s.take_out();
    assert!(
        !out.iter()
            .any(|o| matches!(o.msg, Msg::Release { .. } | Msg::Forget { .. })),
        "a held result stays: {out:?}"
    );
    // The reader goes to the holder, reading the result from computation
    // 1's slot there.
    let sent = run_deps(&out);
    assert_eq!(sent.len(), 1, "{out:?}");
    let (w, id, deps) = &sent[0];
    assert_eq!((*w, *id), (holder, 1));
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0].id, 0);
    assert_eq!(deps[0].at, None);
    assert_eq!(deps[0].from, Some((global_id(CLIENT, 1), 0)));
    // Cancelling computation 1 forgets it on its worker; a computation
    // submitted after that reading it is refused naming the placeholder.
    s.message(CLIENT, Msg::Cancel { comp: 1 }, vec![]).unwrap();
    let out = s.take_out();
    assert!(
        out.iter().any(|o| o.to == holder
            && matches!(o.msg, Msg::Forget { comp } if comp == global_id(CLIENT, 1)))
    );
    s.message(
        CLIENT,
        submit_msg(
            3,
            vec![vec![], vec![0]],
            vec![1],
            vec![External {
                id: 0,
                comp: 1,
                task: 0,
            }],
        ),
        graph(),
    )
    .unwrap();
    let out = s.take_out();
    assert!(
        matches!(
            &out[0].msg,
            Msg::Failed {
                comp: 3,
                failure: Failure::Lost { task: 0, .. }
            }
        ),
        "{out:?}"
    );
}

#[test]
fn a_reader_of_a_future_on_another_worker_fetches_it_there() {
    let mut s = ClusterState::new(SchedulerOptions {
        tasks_per_thread: 1,
        ..SchedulerOptions::default()
    });
    worker(&mut s, 1);
    s.connected(CLIENT, Role::Client);
    s.message(
        CLIENT,
        submit_msg(1, vec![vec![]], vec![0], vec![]),
        graph(),
    )
    .unwrap();
    s.take_out();
    done(&mut s, 1, global_id(CLIENT, 1), 0, 8, true);
    s.take_out();
    // Worker 1 is full (one task in flight per thread): the reader goes
    // to worker 2, which fetches from worker 1's address.
    s.message(
        CLIENT,
        submit_msg(5, vec![vec![]], vec![0], vec![]),
        graph(),
    )
    .unwrap();
    s.take_out();
    worker(&mut s, 2);
    s.take_out();
    let ext = External {
        id: 0,
        comp: 1,
        task: 0,
    };
    s.message(
        CLIENT,
        submit_msg(2, vec![vec![], vec![0]], vec![1], vec![ext]),
        graph(),
    )
    .unwrap();
    let sent = run_deps(&s.take_out());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 2);
    assert_eq!(sent[0].2[0].at.as_deref(), Some("127.0.0.1:9001"));
    assert_eq!(sent[0].2[0].from, Some((global_id(CLIENT, 1), 0)));
}

#[test]
fn a_failing_task_is_run_again_up_to_its_retries() {
    let mut s = ClusterState::new(SchedulerOptions::default());
    worker(&mut s, 1);
    s.connected(CLIENT, Role::Client);
    let mut m = submit_msg(1, vec![vec![]], vec![0], vec![]);
    if let Msg::Submit { retries, .. } = &mut m {
        *retries = 2;
    }
    s.message(CLIENT, m, graph()).unwrap();
    let comp = global_id(CLIENT, 1);
    let error = || {
        let e: oxidask_graph::OpError = "boom".into();
        oxidask_graph::TaskError::failed(oxidask_graph::Key::new("k"), "op", &*e)
    };
    assert_eq!(runs(&s.take_out()).len(), 1);
    for _ in 0..2 {
        s.message(
            1,
            Msg::Erred {
                comp,
                id: 0,
                error: error(),
            },
            vec![],
        )
        .unwrap();
        let out = s.take_out();
        assert_eq!(runs(&out).len(), 1, "run again: {out:?}");
    }
    s.message(
        1,
        Msg::Erred {
            comp,
            id: 0,
            error: error(),
        },
        vec![],
    )
    .unwrap();
    let out = s.take_out();
    assert!(
        out.iter().any(|o| matches!(
            &o.msg,
            Msg::Failed {
                comp: 1,
                failure: Failure::Task(_)
            }
        )),
        "{out:?}"
    );
}

/// A Scatter of `n` values.
fn scatter(s: &mut ClusterState, comp: u64, n: usize, broadcast: bool) -> Vec<Out> {
    let codecs = vec!["i64@x".to_string(); n];
    let data = vec![Bytes::from_static(b"v"); n];
    s.message(
        CLIENT,
        Msg::Scatter {
            comp,
            codecs,
            broadcast,
        },
        data,
    )
    .unwrap();
    s.take_out()
}

/// The (worker, ids) of every Store sent.
fn stores(out: &[Out]) -> Vec<(ConnId, Vec<u32>)> {
    out.iter()
        .filter_map(|o| match &o.msg {
            Msg::Store { items, .. } => {
                assert_eq!(o.data.len(), items.len());
                Some((o.to, items.iter().map(|i| i.0).collect()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn scattered_values_go_round_robin_and_are_lost_with_their_worker() {
    let mut s = ClusterState::new(SchedulerOptions::default());
    worker(&mut s, 1);
    worker(&mut s, 2);
    s.connected(CLIENT, Role::Client);
    let mut st = stores(&scatter(&mut s, 1, 4, false));
    st.sort();
    assert_eq!(st.len(), 2, "both workers get values: {st:?}");
    assert_eq!(st[0].1.len() + st[1].1.len(), 4);
    assert_eq!(st[0].1.len(), 2);
    let comp = global_id(CLIENT, 1);
    for (w, ids) in &st {
        let items = ids.iter().map(|&i| (i, 8)).collect();
        s.message(*w, Msg::Stored { comp, items }, vec![]).unwrap();
    }
    // A reader of value st[1].1[0] runs on its worker.
    let ext = External {
        id: 0,
        comp: 1,
        task: st[1].1[0],
    };
    s.message(
        CLIENT,
        submit_msg(2, vec![vec![], vec![0]], vec![1], vec![ext]),
        graph(),
    )
    .unwrap();
    let sent = run_deps(&s.take_out());
    assert_eq!((sent[0].0, sent[0].2[0].at.clone()), (st[1].0, None));
    // Its worker dies: the scattered values there are lost, named.
    s.closed(st[0].0);
    let out = s.take_out();
    assert!(
        out.iter().any(|o| matches!(&o.msg, Msg::Failed { comp: 1, failure: Failure::Lost { reason, .. } } if reason.contains("w1"))),
        "{out:?}"
    );
}

#[test]
fn a_broadcast_value_is_everywhere_and_survives_all_but_one_worker() {
    let mut s = ClusterState::new(SchedulerOptions::default());
    worker(&mut s, 1);
    worker(&mut s, 2);
    s.connected(CLIENT, Role::Client);
    let st = stores(&scatter(&mut s, 1, 1, true));
    assert_eq!(st, vec![(1, vec![0]), (2, vec![0])]);
    let comp = global_id(CLIENT, 1);
    for w in [1, 2] {
        let stored = Msg::Stored {
            comp,
            items: vec![(0, 8)],
        };
        s.message(w, stored, vec![]).unwrap();
    }
    s.closed(1);
    let out = s.take_out();
    assert!(
        !out.iter().any(|o| matches!(o.msg, Msg::Failed { .. })),
        "{out:?}"
    );
    let ext = External {
        id: 0,
        comp: 1,
        task: 0,
    };
    s.message(
        CLIENT,
        submit_msg(2, vec![vec![], vec![0]], vec![1], vec![ext]),
        graph(),
    )
    .unwrap();
    let sent = run_deps(&s.take_out());
    assert_eq!((sent[0].0, sent[0].2[0].at.clone()), (2, None));
    // Scattering with no worker at all is refused, not left hanging.
    s.closed(2);
    s.take_out();
    let out = scatter(&mut s, 3, 1, false);
    assert!(
        matches!(&out[0].msg, Msg::Failed { comp: 3, failure: Failure::BadGraph(m) } if m.contains("no workers")),
        "{out:?}"
    );
}

#[test]
fn an_input_its_reader_cannot_fetch_is_computed_again_not_waited_for() {
    let mut s = ClusterState::new(SchedulerOptions::default());
    worker(&mut s, 1);
    worker(&mut s, 2);
    let comp = submit_diamond(&mut s);
    let r = runs(&s.take_out());
    let on = |t: u32| r.iter().find(|x| x.1 == t).unwrap().0;
    let (w0, w1) = (on(0), on(1));
    done(&mut s, w0, comp, 0, 1_000_000, false);
    done(&mut s, w1, comp, 1, 10, false);
    let r = runs(&s.take_out());
    assert_eq!(
        r,
        vec![(w0, 2, vec![(1, format!("127.0.0.1:{}", 9000 + w1))])]
    );
    // w1 was killed, but its closed connection is not read yet: the reader
    // misses 1 there. Task 1 runs again at once (not task 2 over and over
    // against the dead holder), and w1 is told to drop its copy.
    s.message(
        w0,
        Msg::Missing {
            comp,
            id: 2,
            dep: 1,
        },
        vec![],
    )
    .unwrap();
    let out = s.take_out();
    let r = runs(&out);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].1, 1, "task 1 computed again: {r:?}");
    assert!(
        out.iter()
            .any(|o| o.to == w1 && matches!(&o.msg, Msg::Release { ids, .. } if ids == &vec![1]))
    );
    // Then the close arrives; if 1 was placed on w1, it goes elsewhere.
    let again = r[0].0;
    s.closed(w1);
    let r = runs(&s.take_out());
    let holder = if again == w1 {
        assert_eq!(r, vec![(w0, 1, vec![])]);
        w0
    } else {
        assert!(r.is_empty(), "{r:?}");
        again
    };
    done(&mut s, holder, comp, 1, 10, false);
    let r = runs(&s.take_out());
    assert_eq!(r, vec![(w0, 2, vec![])]);
    done(&mut s, w0, comp, 2, 8, true);
    let kinds: Vec<&str> = s.take_out().iter().map(|o| o.msg.kind()).collect();
    assert!(kinds.contains(&"Finished"), "{kinds:?}");
}

#[test]
fn a_holder_that_never_hands_an_input_over_fails_the_computation_by_name() {
    let mut s = ClusterState::new(SchedulerOptions::default());
    worker(&mut s, 1);
    worker(&mut s, 2);
    let comp = submit_diamond(&mut s);
    let r = runs(&s.take_out());
    let on = |t: u32| r.iter().find(|x| x.1 == t).unwrap().0;
    let (w0, w1) = (on(0), on(1));
    done(&mut s, w0, comp, 0, 1_000_000, false);
    done(&mut s, w1, comp, 1, 10, false);
    s.take_out();
    // Each time 1 is recomputed on w1 and 2 (on w0) cannot fetch it.
    for round in 0..=MISSING_LIMIT {
        s.message(
            w0,
            Msg::Missing {
                comp,
                id: 2,
                dep: 1,
            },
            vec![],
        )
        .unwrap();
        let out = s.take_out();
        if round == MISSING_LIMIT {
            let failed = out.iter().find_map(|o| match &o.msg {
                Msg::Failed {
                    failure: Failure::BadGraph(m),
                    ..
                } => Some(m.clone()),
                _ => None,
            });
            let m = failed.expect("the computation fails");
            assert!(
                m.contains("task #2") && m.contains("input #1 from w"),
                "{m}"
            );
            return;
        }
        for (w, t, _) in runs(&out) {
            assert_eq!(t, 1, "round {round}");
            done(&mut s, w, comp, 1, 10, false);
        }
        // 2 runs again, on w0 (where the big input 0 is).
        let r: Vec<(ConnId, u32)> = runs(&s.take_out()).iter().map(|x| (x.0, x.1)).collect();
        assert_eq!(r, vec![(w0, 2)], "round {round}");
    }
}

fn heartbeat(s: &mut ClusterState, w: ConnId, paused: bool) {
    let memory = MemoryReport {
        paused,
        ..MemoryReport::default()
    };
    s.message(w, Msg::Heartbeat { memory }, vec![]).unwrap();
}

#[test]
fn a_paused_worker_is_sent_nothing_until_it_resumes() {
    let mut s = ClusterState::new(SchedulerOptions::default());
    worker(&mut s, 1);
    worker(&mut s, 2);
    heartbeat(&mut s, 1, true);
    let comp = submit_diamond(&mut s);
    // Both roots go to the worker that is not paused.
    let r = runs(&s.take_out());
    assert_eq!(
        r.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![2, 2],
        "{r:?}"
    );
    // All paused: nothing goes out, and the computation waits.
    heartbeat(&mut s, 2, true);
    done(&mut s, 2, comp, 0, 10, false);
    done(&mut s, 2, comp, 1, 10, false);
    assert!(runs(&s.take_out()).is_empty());
    // Worker 1 resumes: the last task goes to it, fetching both inputs.
    heartbeat(&mut s, 1, false);
    let r = runs(&s.take_out());
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!((r[0].0, r[0].1, r[0].2.len()), (1, 2, 2), "{r:?}");
}

/// Submits `n` independent tasks (priorities 0..n, all outputs) as the
/// client's computation 1; returns its global id.
fn submit_independent(s: &mut ClusterState, n: u32) -> u64 {
    s.connected(CLIENT, Role::Client);
    let deps = vec![vec![]; n as usize];
    s.message(
        CLIENT,
        submit_msg(1, deps, (0..n).collect(), vec![]),
        graph(),
    )
    .unwrap();
    global_id(CLIENT, 1)
}

/// The `Steal` requests sent: (worker, computation, ids).
fn steals(out: &[Out]) -> Vec<(ConnId, u64, Vec<u32>)> {
    out.iter()
        .filter_map(|o| match &o.msg {
            Msg::Steal { comp, ids } => Some((o.to, *comp, ids.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn an_idle_worker_takes_back_the_tasks_a_busy_one_would_run_last() {
    let mut s = ClusterState::new(SchedulerOptions::default());
    worker(&mut s, 1);
    // Ten independent tasks, priorities 0..10, on one worker (one thread).
    let comp = submit_independent(&mut s, 10);
    assert_eq!(runs(&s.take_out()).len(), 10);
    // A second worker joins: nothing is left to send it, so the first is
    // asked for the half of its 9 queued tasks it would run last.
    worker(&mut s, 2);
    heartbeat(&mut s, 2, false);
    let st = steals(&s.take_out());
    assert_eq!(st.len(), 1, "{st:?}");
    let (victim, c, mut ids) = st[0].clone();
    assert_eq!((victim, c), (1, comp));
    ids.sort_unstable();
    // One thread idle on worker 2: one task asked for (the idle threads
    // bound it), the last in priority order.
    assert_eq!(ids, vec![9]);
    // No second request while this one is unanswered.
    heartbeat(&mut s, 2, false);
    assert!(steals(&s.take_out()).is_empty());
    // Worker 1 had started nothing but task 0: task 9 comes back and goes
    // to worker 2.
    s.message(1, Msg::Stolen { comp, ids: vec![9] }, vec![])
        .unwrap();
    let out = s.take_out();
    let r = runs(&out);
    assert_eq!(
        r.iter().map(|x| (x.0, x.1)).collect::<Vec<_>>(),
        vec![(2, 9)]
    );
    // Worker 2 finishes it; it is idle again and steals once more.
    done(&mut s, 2, comp, 9, 8, true);
    let st = steals(&s.take_out());
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].2, vec![8]);
    // A task already started is not in the answer: it stays with worker 1
    // and its report counts.
    s.message(1, Msg::Stolen { comp, ids: vec![] }, vec![])
        .unwrap();
    let _ = s.take_out();
    for t in 0..9 {
        done(&mut s, 1, comp, t, 8, true);
    }
    let out = s.take_out();
    assert!(out.iter().any(|o| matches!(o.msg, Msg::Finished { .. })));
}

#[test]
fn a_paused_worker_is_asked_for_all_its_queued_tasks() {
    let mut s = ClusterState::new(SchedulerOptions::default());
    worker(&mut s, 1);
    worker(&mut s, 2);
    submit_independent(&mut s, 6);
    let r = runs(&s.take_out());
    let on1: Vec<u32> = r.iter().filter(|x| x.0 == 1).map(|x| x.1).collect();
    assert_eq!(on1.len(), 3, "{r:?}");
    heartbeat(&mut s, 1, true);
    let st = steals(&s.take_out());
    assert_eq!(st.len(), 1, "{st:?}");
    let mut ids = st[0].2.clone();
    ids.sort_unstable();
    assert_eq!((st[0].0, ids), (1, on1));
}

/// Root-task queuing: with a worker saturation, a worker of one thread is
/// sent one root task at a time (the others wait queued on the scheduler)
/// while tasks with inputs are not held back by it; without one, every
/// root goes out at once.
#[test]
fn roots_wait_queued_while_their_workers_are_saturated() {
    let submit = |s: &mut ClusterState| {
        s.connected(CLIENT, Role::Client);
        // Tasks 1 and 2 read root 0; 3, 4 and 5 are roots too.
        let deps = vec![vec![], vec![0], vec![0], vec![], vec![], vec![]];
        s.message(
            CLIENT,
            submit_msg(1, deps, (0..6).collect(), vec![]),
            graph(),
        )
        .unwrap();
    };
    let sent = |s: &mut ClusterState| {
        let mut ids: Vec<u32> = runs(&s.take_out()).iter().map(|r| r.1).collect();
        ids.sort_unstable();
        ids
    };
    let mut s = ClusterState::new(SchedulerOptions::default());
    worker(&mut s, 1);
    submit(&mut s);
    assert_eq!(
        sent(&mut s),
        [0, 3, 4, 5],
        "no saturation: every root at once"
    );

    let saturated = SchedulerOptions {
        worker_saturation: Some(1.0),
        ..SchedulerOptions::default()
    };
    let mut s = ClusterState::new(saturated.clone());
    worker(&mut s, 1);
    submit(&mut s);
    assert_eq!(sent(&mut s), [0], "one root per thread");
    let comp = global_id(CLIENT, 1);
    // Root 0 done: both its readers go out (two in flight on one thread:
    // only roots wait for room); root 3 waits for both.
    done(&mut s, 1, comp, 0, 8, true);
    assert_eq!(sent(&mut s), [1, 2]);
    done(&mut s, 1, comp, 1, 8, true);
    assert_eq!(sent(&mut s), Vec::<u32>::new());
    done(&mut s, 1, comp, 2, 8, true);
    assert_eq!(sent(&mut s), [3]);
    done(&mut s, 1, comp, 3, 8, true);
    assert_eq!(sent(&mut s), [4]);

    // A worker of two threads takes ⌈2 × 1.0⌉ roots at once.
    let mut s = ClusterState::new(saturated);
    s.connected(
        2,
        Role::Worker {
            name: "w2".into(),
            nthreads: 2,
            memory_limit: None,
            peer_addr: "127.0.0.1:9002".into(),
        },
    );
    submit(&mut s);
    assert_eq!(sent(&mut s), [0, 3]);
}
