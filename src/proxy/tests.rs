//! The proxy handshakes on their own: CONNECT and SOCKS5 openings, the
//! replies fed in pieces, and each refusal or garbled reply named.

use super::*;

/// Feeds `reply` to a setup in two reads cut at `cut`, answering each
/// `Send` with the next of `replies`; returns what was sent and the end.
fn run(opening: &Opening, replies: &[&[u8]], cut: usize) -> (Vec<Bytes>, Result<Progress, Refusal>) {
    let mut setup = Setup::new(opening);
    let mut sent = vec![opening.first()];
    for (i, reply) in replies.iter().enumerate() {
        let cut = cut.min(reply.len());
        let mut last = Ok(Progress::NeedMore);
        for part in [&reply[..cut], &reply[cut..]] {
            if part.is_empty() {
                continue;
            }
            last = setup.feed(opening, part);
            if !matches!(last, Ok(Progress::NeedMore)) {
                break;
            }
        }
        match last {
            Ok(Progress::Send(bytes)) if i + 1 < replies.len() => sent.push(bytes),
            other => return (sent, other),
        }
    }
    (sent, Ok(Progress::NeedMore))
}

#[test]
fn connect_opens_on_2xx_at_every_split_and_hands_over_what_follows() {
    let opening = Opening::connect("h:443", None, &[]);
    let reply = b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03";
    for cut in 0..reply.len() {
        let (sent, end) = run(&opening, &[reply], cut);
        assert_eq!(sent.len(), 1);
        let used = reply.len() - 3;
        // The read that completed the head: `used` counts from its start.
        let want = if cut >= used { used } else { used - cut };
        assert_eq!(end, Ok(Progress::Open { used: want }), "cut at {cut}");
    }
}

#[test]
fn refusals_name_the_answer() {
    let opening = Opening::connect("h:443", Some("Basic dTpw"), &[]);
    let cases: &[(&[u8], Refusal)] = &[
        (b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", Refusal::Status(407)),
        (b"HTTP/1.1 403 Forbidden\r\n\r\n", Refusal::Status(403)),
        (b"HTTP/1.1 502 Bad Gateway\r\n\r\n", Refusal::Status(502)),
        (b"garbage\r\n\r\n", Refusal::Reply(ReplyError::Invalid)),
    ];
    for &(reply, want) in cases {
        for cut in 0..reply.len() {
            assert_eq!(run(&opening, &[reply], cut).1, Err(want), "cut at {cut}");
        }
    }
}

#[test]
fn a_head_that_never_ends_is_refused_however_it_is_read() {
    let opening = Opening::connect("h:80", None, &[]);
    let mut setup = Setup::new(&opening);
    assert_eq!(setup.feed(&opening, b"HTTP/1.1 200 OK\r\n"), Ok(Progress::NeedMore));
    let filler = [b'a'; 1000];
    let mut end = Ok(Progress::NeedMore);
    for _ in 0..20 {
        end = setup.feed(&opening, &filler);
        if end.is_err() {
            break;
        }
    }
    assert_eq!(end, Err(Refusal::Reply(ReplyError::TooLarge)));
    assert!(setup.held.len() <= MAX_BUFFERED);
}

#[test]
fn socks5_without_and_with_authentication_at_every_split() {
    let to = Destination::Name("example.com".into());
    let plain = Opening::socks5(&to, 443, None).unwrap();
    let reply: &[u8] = &[5, 0, 0, 1, 1, 2, 3, 4, 0, 80];
    for cut in 0..reply.len() {
        let (sent, end) = run(&plain, &[&[5, 0], reply], cut);
        assert_eq!(sent.len(), 2, "greeting, connect");
        assert_eq!(sent[1][..4], [5, 1, 0, 3]);
        let want = if cut == 0 || cut >= reply.len() { reply.len() } else { reply.len() - cut };
        assert_eq!(end, Ok(Progress::Open { used: want }), "cut at {cut}");
    }
    let authed = Opening::socks5(&to, 443, Some(("u", "p"))).unwrap();
    let (sent, end) = run(&authed, &[&[5, 2], &[1, 0], reply], 1);
    assert_eq!(sent.len(), 3, "greeting, auth, connect");
    assert_eq!((&sent[0][..], &sent[1][..]), (&[5u8, 2, 0, 2][..], &[1u8, 1, b'u', 1, b'p'][..]));
    assert!(matches!(end, Ok(Progress::Open { .. })));
    // Offered, but the server needs none.
    let (sent, end) = run(&authed, &[&[5, 0], reply], 0);
    assert_eq!(sent.len(), 2);
    assert!(matches!(end, Ok(Progress::Open { .. })));
}

#[test]
fn socks5_failures_are_told_apart() {
    let to = Destination::Ip("127.0.0.1".parse().unwrap());
    let authed = Opening::socks5(&to, 80, Some(("u", "p"))).unwrap();
    let plain = Opening::socks5(&to, 80, None).unwrap();
    let socks = |e| Err(Refusal::Socks(e));
    assert_eq!(run(&authed, &[&[5, 2], &[1, 1]], 0).1, socks(SocksError::AuthFailed));
    assert_eq!(run(&plain, &[&[5, 0xff]], 0).1, socks(SocksError::NoAcceptableMethod));
    assert_eq!(run(&plain, &[&[5, 2]], 0).1, socks(SocksError::Invalid), "a method not offered");
    assert_eq!(run(&plain, &[&[5, 0, 9]], 0).1, socks(SocksError::Invalid), "bytes after a reply");
    for code in 1..=8 {
        assert_eq!(run(&plain, &[&[5, 0], &[5, code, 0, 1]], 0).1, socks(SocksError::Reply(code)));
    }
    assert_eq!(run(&plain, &[b"HTTP/1.1 400 Bad Request\r\n\r\n"], 0).1, socks(SocksError::Invalid));
}

#[test]
fn names_or_credentials_socks_cannot_carry_are_refused() {
    let long = Destination::Name("a".repeat(256));
    assert!(Opening::socks5(&long, 1, None).is_none());
    let to = Destination::Name("a".into());
    assert!(Opening::socks5(&to, 1, Some((&"u".repeat(256), "p"))).is_none());
}
