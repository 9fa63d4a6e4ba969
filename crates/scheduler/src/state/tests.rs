//! The task state on small hand-made graphs: readiness, release and failure.

use oxidask_graph::Deps;

use super::TaskState;

/// a, b → c; c → d; d is the output.
fn diamond() -> Deps {
    Deps::from_lists([vec![], vec![], vec![0, 1], vec![2]])
}

#[test]
fn roots_come_in_priority_order() {
    let deps = diamond();
    let s = TaskState::<String>::new(&deps, &[3], true);
    assert_eq!(s.roots(&[5, 1, 2, 3]), vec![1, 0]);
    assert_eq!(s.roots(&[0, 1, 2, 3]), vec![0, 1]);
}

#[test]
fn a_task_is_ready_when_its_last_dependency_finished() {
    let deps = diamond();
    let s = TaskState::<String>::new(&deps, &[3], true);
    let mut ready = Vec::new();
    s.finished(0, &mut ready);
    assert!(ready.is_empty(), "c still waits for b");
    s.finished(1, &mut ready);
    assert_eq!(ready, vec![2]);
    ready.clear();
    s.finished(2, &mut ready);
    assert_eq!(ready, vec![3]);
    assert!(!s.is_over());
    assert_eq!(s.completed(), 3);
    s.finished(3, &mut Vec::new());
    assert!(s.is_over());
    assert!(!s.failed());
}

#[test]
fn results_are_released_by_their_last_reader() {
    // a is read by b and c, and requested twice.
    let deps = Deps::from_lists([vec![], vec![0], vec![0]]);
    let s = TaskState::<String>::new(&deps, &[0, 0, 2], true);
    assert_eq!(s.readers(), vec![4, 0, 1]);
    assert!(s.unread(1), "b has no reader: its result need not be kept");
    let mut released = Vec::new();
    s.consumed(1, &mut released);
    assert!(released.is_empty());
    s.consumed(2, &mut released);
    s.delivered(0, &mut released);
    assert!(released.is_empty());
    s.delivered(0, &mut released);
    assert_eq!(released, vec![0]);
    s.delivered(2, &mut released);
    assert_eq!(released, vec![0, 2]);
}

#[test]
fn the_first_failure_is_kept_and_ends_the_run() {
    let deps = diamond();
    let s = TaskState::<String>::new(&deps, &[3], true);
    assert!(s.fail("first".into()));
    assert!(!s.fail("second".into()));
    assert!(s.is_over());
    assert_eq!(s.take_failure().as_deref(), Some("first"));
    assert_eq!(s.take_failure(), None);
}

#[test]
fn root_task_queuing_needs_the_switch_and_tight_memory() {
    let deps = diamond();
    let on = TaskState::<String>::new(&deps, &[3], true);
    let off = TaskState::<String>::new(&deps, &[3], false);
    assert!(on.prefer_consumers(|| true));
    assert!(!on.prefer_consumers(|| false));
    assert!(!off.prefer_consumers(|| panic!("not asked when switched off")));
}

#[test]
fn an_empty_graph_is_over_at_once() {
    let deps = Deps::from_lists(Vec::<Vec<u32>>::new());
    let s = TaskState::<String>::new(&deps, &[], true);
    assert!(s.is_empty());
    assert!(s.is_over());
    assert!(s.roots(&[]).is_empty());
}
