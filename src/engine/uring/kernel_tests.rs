//! The kernel's memory on real sockets: a stamped receive's buffers and
//! stamp survive the trip through the ring; a gathering wait keeps to its
//! minimum time and does not count the sends its submission completes; a
//! pool of whole buffers narrows inside the kernel; a full submission
//! queue loses nothing.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::thread::sleep;
use std::time::Instant;

use super::*;
use crate::engine::uring::batch::WaitBatch;
use crate::http::{Pool, RequestSpec};
use crate::sock::stamp;

fn kernel(provided: Option<Shape>) -> Kernel {
    kernel_on(IoUring::new(8).unwrap(), provided)
}

fn kernel_on(ring: IoUring, provided: Option<Shape>) -> Kernel {
    let spec = RequestSpec {
        method: "GET".into(),
        target: "/".into(),
        defaults: vec![("Host".into(), "h".into())],
        user: vec![],
        body: Bytes::new(),
    };
    Kernel::new(ring, provided, Box::new([]), None, Arc::new(Pool::single(spec.build()))).unwrap()
}

/// The one completion of the operation armed last.
fn completion(kernel: &mut Kernel) -> Cqe {
    kernel.submit_and_wait(Duration::from_secs(5));
    let mut cqes = Vec::new();
    kernel.completions(&mut cqes);
    assert_eq!(cqes.len(), 1, "{cqes:?}");
    cqes[0]
}

#[test]
fn a_stamped_receive_brings_its_data_and_when_it_arrived() {
    let (reader, mut writer) = stamp::tests::stamped_pair();
    // Both ways of receiving the plain data (a ring of buffers, lent ones):
    // the stamped receive stands beside either.
    for provided in [None, Some(Shape::filled(4, 4096, false))] {
        let mut kernel = kernel(provided);
        writer.write_all(b"data: 1\n\n").unwrap();
        sleep(Duration::from_millis(30));
        kernel.recv_stamped(reader.as_raw_fd(), 42, 2048);
        let cqe = completion(&mut kernel);
        assert_eq!((cqe.user_data, cqe.result, cqe.is_final()), (42, 9, true));
        let (data, arrived) = kernel.received(&cqe, |data, stamp| (data.to_vec(), stamp.map(|s| s.instant())));
        assert_eq!(data, b"data: 1\n\n");
        let age = Instant::now() - arrived.expect("a stamp");
        assert!(age >= Duration::from_millis(29), "stamped {age:?} ago, written 30 ms ago");
        assert_eq!(kernel.pending(), 0, "its place in the count is given back");
        // The memory is reused by the next one, and an end of stream has no stamp.
        kernel.recv_stamped(reader.as_raw_fd(), 43, 2048);
        writer.write_all(b"x").unwrap();
        let cqe = completion(&mut kernel);
        assert_eq!(kernel.received(&cqe, |data, stamp| (data.to_vec(), stamp.is_some())), (b"x".to_vec(), true));
    }
}

#[test]
fn a_gathering_wait_returns_with_what_came_once_its_minimum_has_passed() {
    let ring = super::super::build_ring(8, true).unwrap();
    if !ring.params().is_feature_min_timeout() {
        eprintln!("skipping: this kernel has no minimum waits (6.12+)");
        return;
    }
    let mut kernel = kernel_on(ring, None);
    let ((a, mut to_a), (b, mut to_b)) = (UnixStream::pair().unwrap(), UnixStream::pair().unwrap());
    let gather = WaitBatch { want: 2, min_wait_us: 200_000 };
    kernel.recv(a.as_raw_fd(), 1);
    kernel.recv(b.as_raw_fd(), 2);
    let took = one_came(&mut kernel, &mut to_a, |k| k.submit_and_gather(Duration::from_secs(5), gather));
    assert!(took >= Duration::from_millis(199), "waited {took:?} for a second completion, not its 200 ms minimum");
    assert!(took < Duration::from_secs(3), "returned after {took:?}: the minimum did not end the 5 s wait");
    // With as many as it wants there, it returns at once.
    both_there_end_the_wait(&mut kernel, (&a, &mut to_a, &mut to_b), |k| {
        k.submit_and_gather(Duration::from_secs(5), gather)
    });
}

/// Writes to `a` (receive 1 waiting on it, receive 2 on `b`), and returns
/// how long `wait` took to return with that one completion.
fn one_came(kernel: &mut Kernel, to_a: &mut UnixStream, wait: impl FnOnce(&mut Kernel)) -> Duration {
    to_a.write_all(b"a").unwrap();
    let begun = Instant::now();
    wait(kernel);
    let took = begun.elapsed();
    let mut cqes = Vec::new();
    kernel.completions(&mut cqes);
    assert_eq!(cqes.iter().map(|c| c.user_data).collect::<Vec<_>>(), [1], "the one that came");
    kernel.received(&cqes[0], |_, _| ());
    took
}

/// Receives on `a` (its other one already on `b`), writes to both, and
/// checks that `wait` returns at once with the two completions.
fn both_there_end_the_wait(
    kernel: &mut Kernel,
    (a, to_a, to_b): (&UnixStream, &mut UnixStream, &mut UnixStream),
    wait: impl FnOnce(&mut Kernel),
) {
    kernel.recv(a.as_raw_fd(), 3);
    // Armed before the data comes, so that both complete after the submission.
    kernel.submit_and_poll();
    to_a.write_all(b"a").unwrap();
    to_b.write_all(b"b").unwrap();
    let begun = Instant::now();
    wait(kernel);
    assert!(begun.elapsed() < Duration::from_millis(150), "{:?} with both there, not the minimum", begun.elapsed());
    let mut cqes = Vec::new();
    kernel.completions(&mut cqes);
    assert_eq!(cqes.len(), 2, "{cqes:?}");
    for cqe in &cqes {
        kernel.received(cqe, |_, _| ());
    }
}

#[test]
fn a_timed_gathering_returns_at_its_count_or_its_minimum_even_with_nothing() {
    // The plain timed wait of kernels without minimum waits (any kernel has it).
    let mut kernel = kernel_on(super::super::build_ring(8, true).unwrap(), None);
    let ((a, mut to_a), (b, mut to_b)) = (UnixStream::pair().unwrap(), UnixStream::pair().unwrap());
    let gather = WaitBatch { want: 2, min_wait_us: 200_000 };
    let mut cqes = Vec::new();
    kernel.recv(a.as_raw_fd(), 1);
    kernel.recv(b.as_raw_fd(), 2);
    // Nothing comes: it returns empty-handed at its minimum, not at the 5 s wait.
    let begun = Instant::now();
    kernel.submit_and_gather_timed(Duration::from_secs(5), gather);
    let took = begun.elapsed();
    kernel.completions(&mut cqes);
    assert!(cqes.is_empty(), "{cqes:?}");
    assert!(took >= Duration::from_millis(199), "returned after {took:?}, before its 200 ms minimum");
    assert!(took < Duration::from_secs(3), "returned after {took:?}: the minimum did not bound the wait");
    // One comes: it is read at the minimum, with what came.
    let took = one_came(&mut kernel, &mut to_a, |k| k.submit_and_gather_timed(Duration::from_secs(5), gather));
    assert!(took < Duration::from_secs(3), "returned after {took:?}");
    // As many as it wants: at once. A shorter overall wait bounds it too.
    both_there_end_the_wait(&mut kernel, (&a, &mut to_a, &mut to_b), |k| {
        k.submit_and_gather_timed(Duration::from_secs(5), gather)
    });
    kernel.recv(a.as_raw_fd(), 4);
    let begun = Instant::now();
    kernel.submit_and_gather_timed(Duration::from_millis(20), gather);
    assert!(
        begun.elapsed() < Duration::from_millis(150),
        "the 20 ms wait, not the 200 ms minimum: {:?}",
        begun.elapsed()
    );
}

#[test]
fn a_gathering_wait_does_not_count_the_sends_its_own_submission_completes() {
    let mut kernel = kernel_on(super::super::build_ring(8, true).unwrap(), None);
    let ((a, mut to_a), (b, mut to_b)) = (UnixStream::pair().unwrap(), UnixStream::pair().unwrap());
    kernel.recv(a.as_raw_fd(), 1);
    kernel.recv(b.as_raw_fd(), 2);
    kernel.submit_and_poll();
    to_a.write_all(b"a").unwrap();
    to_b.write_all(b"b").unwrap();
    // The send finds room and completes inside the submission: two
    // completions come after it, as many as the wait wants, so it returns
    // at once, not at its minimum.
    let took = send_and_gather(&mut kernel, &to_b, 3);
    assert_eq!(settle(&mut kernel, 3), [1, 2, 3]);
    assert!(took < Duration::from_millis(150), "{took:?}: more was asked for than the send and the two arrivals");
    // Without a third arrival the send alone does not end the wait early.
    kernel.recv(a.as_raw_fd(), 4);
    kernel.submit_and_poll();
    to_a.write_all(b"a").unwrap();
    let took = send_and_gather(&mut kernel, &to_b, 5);
    assert!(took >= Duration::from_millis(199), "returned after {took:?}: the send counted as an arrival");
    assert!(took < Duration::from_secs(3), "returned after {took:?}: the minimum did not bound the wait");
    assert_eq!(settle(&mut kernel, 5), [4, 5]);
    // A receive that finds its data inside the submission brings a
    // response: it counts, and with another arrival the wait ends at once.
    kernel.recv(b.as_raw_fd(), 6);
    kernel.submit_and_poll();
    to_a.write_all(b"a").unwrap();
    to_b.write_all(b"b").unwrap();
    kernel.recv(a.as_raw_fd(), 7);
    let begun = Instant::now();
    kernel.submit_and_gather_timed(Duration::from_secs(5), GATHER_TWO);
    assert!(begun.elapsed() < Duration::from_millis(150), "{:?}: a receive was not counted", begun.elapsed());
}

/// A send handed over before the wait (a long batch hands its sends over
/// as it goes) has its completion waiting in the ring, unread: the wait
/// does not count it as an arrival either.
#[test]
fn a_send_handed_over_before_the_wait_is_not_counted_either() {
    let mut kernel = kernel_on(super::super::build_ring(8, true).unwrap(), None);
    let ((a, mut to_a), (_b, to_b)) = (UnixStream::pair().unwrap(), UnixStream::pair().unwrap());
    kernel.recv(a.as_raw_fd(), 1);
    kernel.submit_and_poll();
    kernel.send_bytes(to_b.as_raw_fd(), 2, Bytes::from_static(b"request"));
    kernel.submit();
    to_a.write_all(b"a").unwrap();
    let begun = Instant::now();
    kernel.submit_and_gather_timed(Duration::from_secs(5), GATHER_TWO);
    let took = begun.elapsed();
    assert!(took >= Duration::from_millis(199), "returned after {took:?}: the send counted as an arrival");
    assert!(took < Duration::from_secs(3), "returned after {took:?}: the minimum did not bound the wait");
    assert_eq!(settle(&mut kernel, 2), [1, 2]);
}

/// Two completions, or 200 ms.
const GATHER_TWO: WaitBatch = WaitBatch { want: 2, min_wait_us: 200_000 };

/// Queues a send of a few bytes to `to` (a socket with room: it completes
/// inside the submission) and gathers; returns how long the wait took.
fn send_and_gather(kernel: &mut Kernel, to: &UnixStream, ud: u64) -> Duration {
    kernel.send_bytes(to.as_raw_fd(), ud, Bytes::from_static(b"request"));
    let begun = Instant::now();
    kernel.submit_and_gather_timed(Duration::from_secs(5), GATHER_TWO);
    begun.elapsed()
}

/// Reaps every completion there, the send `send` and receives, and returns
/// their ids in order.
fn settle(kernel: &mut Kernel, send: u64) -> Vec<u64> {
    let mut cqes = Vec::new();
    kernel.completions(&mut cqes);
    for cqe in &cqes {
        if cqe.user_data == send {
            kernel.send_done(send);
        } else {
            kernel.received(cqe, |_, _| ());
        }
    }
    let mut ids: Vec<_> = cqes.iter().map(|c| c.user_data).collect();
    ids.sort_unstable();
    ids
}

/// A whole-buffer pool on a real ring: once a receive fills a buffer,
/// only as many buffers as the written-bytes bound fits stay in the ring;
/// the kernel never hands out the others again, and receiving goes on.
#[test]
fn a_pool_of_whole_buffers_narrows_in_the_kernel_once_receives_fill_them() {
    if !super::super::probe().is_ok_and(|features| features.multishot) {
        eprintln!("skipping: this kernel has no multishot receives (6.0+)");
        return;
    }
    let shape = Shape { count: 4, size: 4096, touch_bytes: 8192, incremental: false };
    let mut kernel = kernel(Some(shape));
    kernel.out_of_buffers();
    assert_eq!(kernel.rearm_budget(), 4, "grown to the four buffers small receives may use");
    let (reader, mut writer) = UnixStream::pair().unwrap();
    kernel.recv(reader.as_raw_fd(), 9);
    let mut ids = Vec::new();
    for round in 0..8u8 {
        writer.write_all(&[round; 4096]).unwrap();
        let cqe = completion(&mut kernel);
        assert!(!cqe.is_final(), "round {round}: the receive stopped: {cqe:?}");
        ids.extend(cqueue::buffer_select(cqe.flags));
        let whole = kernel.received(&cqe, |data, _| data.len() == 4096 && data.iter().all(|&b| b == round));
        assert!(whole, "round {round}: the 4096 bytes written");
    }
    assert_eq!(ids, [0, 1, 2, 3, 0, 1, 0, 1], "buffers 2 and 3 left the ring after their one use");
    assert_eq!(kernel.rearm_budget(), 2);
}

/// More operations than the submission queue holds: it is handed to the
/// kernel when full and the rest queued behind, none lost, and the
/// completions past the completion queue's size wait in the kernel.
#[test]
fn a_full_submission_queue_is_submitted_and_every_operation_completes() {
    // Receives into lent buffers: each has its own, none runs out.
    let mut kernel = kernel(None);
    let pairs: Vec<_> = (0..40).map(|_| UnixStream::pair().unwrap()).collect();
    for (ud, (reader, _)) in (100..).zip(&pairs) {
        kernel.recv(reader.as_raw_fd(), ud);
    }
    kernel.submit();
    for (_, writer) in &pairs {
        (&*writer).write_all(b"x").unwrap();
    }
    let mut cqes = Vec::new();
    let begun = Instant::now();
    while cqes.len() < pairs.len() && begun.elapsed() < Duration::from_secs(5) {
        kernel.submit_and_wait(Duration::from_millis(100));
        kernel.completions(&mut cqes);
    }
    let mut uds: Vec<u64> = cqes.iter().map(|c| c.user_data).collect();
    uds.sort_unstable();
    assert_eq!(uds, (100..140).collect::<Vec<_>>(), "one completion for each of the 40 receives");
    for cqe in &cqes {
        assert_eq!(kernel.received(cqe, |data, _| data.to_vec()), b"x");
    }
}
