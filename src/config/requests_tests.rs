//! Unit tests of the request pool's rules, against files in a scratch folder.

use std::path::PathBuf;

use bytes::BytesMut;

use super::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vastar-requests-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn input(method: &str) -> RequestInput {
    RequestInput { method: method.into(), keepalive: true, ..Default::default() }
}

fn texts(pool: &Pool) -> Vec<String> {
    pool.entries().iter().map(|e| String::from_utf8(e.bytes.to_vec()).unwrap()).collect()
}

fn from_file(name: &str, text: &str, flags: RequestFlags<'_>) -> Result<Requests, ConfigError> {
    let dir = scratch(name);
    let file = dir.join("targets.txt");
    std::fs::write(&file, text).unwrap();
    build("", &input("GET"), &RequestFlags { targets: Some(&file), ..flags }, 3)
}

#[test]
fn pool_length_keeps_rounds_and_line_cycles_whole() {
    // (targets, [(lines, per round)], random, cap) -> length
    type Case<'a> = (usize, &'a [(usize, usize)], bool, usize, usize);
    let cases: &[Case] = &[
        (1, &[], false, 4096, 1),
        (5, &[], false, 4096, 5),
        (3, &[(10, 1)], false, 4096, 30),
        (3, &[(10, 3)], false, 4096, 30),
        (3, &[(9, 3)], false, 4096, 9),
        (2, &[(4, 1), (6, 1)], false, 4096, 24),
        (1, &[(5000, 1)], false, 4096, 4096),
        (3, &[(5000, 1)], false, 4096, 4095),
        (1, &[], true, 4096, 4096),
        (3, &[], true, 4096, 4095),
        (3, &[(10, 1)], true, 4096, 4080),
        (5000, &[], true, 4096, 5000),
        (2, &[], true, 1, 2),
    ];
    for &(targets, lines, random, cap, want) in cases {
        assert_eq!(pool_length(targets, lines, random, cap), want, "{targets} {lines:?} {random} {cap}");
    }
}

#[test]
fn a_plain_url_is_one_request_and_seq_is_written_per_request() {
    let plain = build("http://h:8080/x", &input("GET"), &RequestFlags::default(), 3).unwrap();
    assert_eq!(plain.pool.len(), 1);
    assert!(!plain.facts.templated && !plain.facts.from_file);
    let seq = build("http://h:8080/u/{{seq}}", &input("GET"), &RequestFlags::default(), 3).unwrap();
    assert_eq!((seq.pool.len(), seq.facts.templated), (1, true));
    let mut out = BytesMut::new();
    seq.pool.entry(0).write(42, seq.pool.seq_width(), &mut out);
    assert!(out.starts_with(b"GET /u/042 HTTP/1.1\r\n"), "{out:?}");
}

#[test]
fn target_headers_replace_dash_h_by_name_and_bodies_keep_their_length() {
    let dir = scratch("headers");
    let body = dir.join("body.json");
    std::fs::write(&body, "{\"n\":{{rand:1000}}}").unwrap();
    let text = format!("POST http://h/a\nx-token: mine\n@{}\n\nGET http://h/b\n", body.display());
    let mut given = input("GET");
    given.headers = vec![("X-Token".into(), "shared".into()), ("X-Other".into(), "1".into())];
    let file = dir.join("t.txt");
    std::fs::write(&file, text).unwrap();
    let build_seeded =
        || build("", &given, &RequestFlags { targets: Some(&file), seed: Some(1), ..Default::default() }, 3);
    let built = build_seeded().unwrap();
    let all = texts(&built.pool);
    assert_eq!(built.pool.len(), 4096, "a random value fills the pool");
    let post = &all[0];
    assert!(post.starts_with("POST /a HTTP/1.1\r\nHost: h\r\n"), "{post}");
    assert!(post.contains("\r\nX-Other: 1\r\nx-token: mine\r\n") && !post.contains("shared"), "{post}");
    let body_text = &post[post.find("\r\n\r\n").unwrap() + 4..];
    assert!(post.contains(&format!("Content-Length: {}\r\n", body_text.len())), "{post}");
    assert!(all[1].starts_with("GET /b HTTP/1.1\r\n") && all[1].contains("X-Token: shared"), "{}", all[1]);
    assert_eq!(built.facts.labels, ["POST http://h:80/a", "GET http://h:80/b"]);
    assert_eq!(texts(&build_seeded().unwrap().pool), all, "the same seed builds the same pool");
}

#[test]
fn line_files_cycle_exactly_over_the_pool() {
    let dir = scratch("lines");
    let ids = dir.join("ids.txt");
    std::fs::write(&ids, "a\r\nb\n\nc\n").unwrap();
    let url = format!("http://h/item/{{{{line:{}}}}}", ids.display());
    let built = build(&url, &input("GET"), &RequestFlags::default(), 3).unwrap();
    let paths: Vec<String> = texts(&built.pool).iter().map(|t| t.split(' ').nth(1).unwrap().to_string()).collect();
    assert_eq!(paths, ["/item/a", "/item/b", "/item/c"]);
}

#[test]
fn targets_must_share_one_place_unless_connect_to_joins_them() {
    let two_hosts = "http://a.test:8080/x\nhttp://b.test:9090/y\n";
    let err = from_file("places", two_hosts, RequestFlags::default()).unwrap_err().to_string();
    assert!(err.contains("a.test:8080") && err.contains("b.test:9090") && err.contains("--connect-to"), "{err}");
    let maps = ["a.test:8080:127.0.0.1:1".to_string(), "b.test:9090:127.0.0.1:1".to_string()];
    let joined = from_file("joined", two_hosts, RequestFlags { connect_to: &maps, ..Default::default() }).unwrap();
    assert_eq!(joined.connect_to, Some(("127.0.0.1".into(), 1)));
    let hosts: Vec<String> = texts(&joined.pool).iter().map(|t| t.lines().nth(1).unwrap().to_string()).collect();
    assert_eq!(hosts, ["Host: a.test:8080", "Host: b.test:9090"], "Host headers stay");
    let socket = RequestFlags { unix_socket: true, ..Default::default() };
    assert_eq!(from_file("socket", two_hosts, socket).unwrap().connect_to, None, "a Unix socket takes every host");
    let one = ["127.0.0.1:1".to_string()];
    assert!(from_file("short", two_hosts, RequestFlags { connect_to: &one, ..Default::default() }).is_ok());
    let stray = ["c.test:80:127.0.0.1:1".to_string()];
    let err = from_file("stray", two_hosts, RequestFlags { connect_to: &stray, ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("applies to no target"), "{err}");
    for (text, needle) in
        [("http://h/\nhttps://h/\n", "mixes http:// and https://"), ("https://a.test/\nhttps://b.test/\n", "one name")]
    {
        let err = from_file("schemes", text, RequestFlags::default()).unwrap_err().to_string();
        assert!(err.contains(needle), "{text}: {err}");
    }
}

#[test]
fn bad_targets_name_the_file_and_line() {
    let dir = scratch("bad");
    let missing = dir.join("missing.txt");
    for (text, line, needle) in [
        ("http://h/\n\nGET nope\n", 3, "not a URL"),
        ("http://h/\nPOST http://h/b\n@/nonexistent/body\n", 3, "body file"),
        (&format!("http://h/{{{{line:{}}}}}\n", missing.display()), 1, "cannot read the file"),
        ("http://h/\nhttp://h/{{rand:0}}\n", 2, "rand:0"),
        ("http://h/\nGET http://h:99999/\n", 2, "out of range"),
    ] {
        let err = from_file("bad", text, RequestFlags::default()).unwrap_err().to_string();
        if line > 0 {
            assert!(err.contains(&format!("targets.txt, line {line}: ")), "{text:?}: {err}");
        }
        assert!(err.contains(needle), "{text:?}: {err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
    let many: String = (0..5).map(|i| format!("http://h/{i}\n")).collect();
    let err = from_file("many", &many, RequestFlags { pool: Some(4), ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("line 5: more than 4 targets"), "{err}");
    let err = build("", &input("GET"), &RequestFlags { targets: Some(&missing), ..Default::default() }, 3).unwrap_err();
    assert!(err.to_string().starts_with("--targets: ") && err.to_string().contains("missing.txt"), "{err}");
    for (pool, needle) in [(0, "out of range"), (70_000, "out of range")] {
        let err = build("http://h/", &input("GET"), &RequestFlags { pool: Some(pool), ..Default::default() }, 3);
        assert!(err.unwrap_err().to_string().contains(needle));
    }
    assert!(Order::parse("sideways").unwrap_err().to_string().contains("round-robin or random"));
}

#[test]
fn a_random_order_is_seeded_and_covers_the_targets() {
    let text = "http://h/a\nhttp://h/b\nhttp://h/c\n";
    let flags = |seed| RequestFlags { order: Some("random"), seed: Some(seed), pool: Some(300), ..Default::default() };
    let one = from_file("random", text, flags(9)).unwrap();
    let two = from_file("random2", text, flags(9)).unwrap();
    assert_eq!(texts(&one.pool), texts(&two.pool));
    let counts: Vec<usize> = (0..3).map(|t| one.pool.entries().iter().filter(|e| e.target == t).count()).collect();
    assert_eq!(counts.iter().sum::<usize>(), 300);
    assert!(counts.iter().all(|&n| n > 60), "{counts:?}");
    assert_eq!(one.facts.seed, 9);
    assert_eq!(one.pool.distinct(), 3, "a target without random values is built once and shared");
}

#[test]
fn request_flag_errors_keep_their_own_words() {
    let given = RequestInput { accept: Some("a\nb".into()), ..input("GET") };
    let err = build("http://h/", &given, &RequestFlags::default(), 3).unwrap_err().to_string();
    assert!(err.starts_with("-A: ") && err.contains("control character"), "{err}");
}
