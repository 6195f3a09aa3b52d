//! Choosing the proxy as curl does: proxy URLs, the environment's
//! variables, NO_PROXY and --noproxy lists, tunnel or absolute form, and
//! errors that never show a password.

use super::*;

fn env(vars: &[(&'static str, &str)]) -> ProxyEnv {
    ProxyEnv { vars: vars.iter().map(|&(n, v)| (n, v.to_string())).collect() }
}

fn chosen(flags: ProxyFlags<'_>, vars: &[(&'static str, &str)], url: &str) -> Option<String> {
    let url = Url::parse(url).unwrap();
    choose(&flags, &env(vars), &url, false, false).unwrap().map(|p| format!("{} {}", p.from, p.display()))
}

#[test]
fn no_proxy_table() {
    let list =
        NoProxy::parse("NO_PROXY", " example.com, .corp.net,10.0.0.0/8, ::1 ,192.168.1.7,*.svc,[fd00::]/8").unwrap();
    let cases = [
        ("example.com", true),
        ("a.example.com", true),
        ("A.Example.COM.", true),
        ("notexample.com", false),
        ("example.com.evil", false),
        ("corp.net", true),
        ("x.y.corp.net", true),
        ("10.1.2.3", true),
        ("11.1.2.3", false),
        ("::1", true),
        ("::2", false),
        ("192.168.1.7", true),
        ("192.168.1.8", false),
        ("api.svc", true),
        ("fdff::1", true),
        ("fe00::1", false),
        ("localhost", false),
    ];
    for (host, want) in cases {
        assert_eq!(list.matches(host), want, "{host}");
    }
    let all = NoProxy::parse("--noproxy", "*").unwrap();
    assert!(all.matches("anything") && all.matches("127.0.0.1"));
    let none = NoProxy::parse("--noproxy", "").unwrap();
    assert!(!none.matches("example.com"));
    let v4_all = NoProxy::parse("NO_PROXY", "0.0.0.0/0").unwrap();
    assert!(v4_all.matches("8.8.8.8") && !v4_all.matches("::1"), "no match across families");
}

#[test]
fn garbage_no_proxy_entries_are_refused_with_the_source_named() {
    for list in ["exa mple.com", "example.com:80", "10.0.0.0/33", "::1/129", "10.0.0.0/x", "a/8", "é.com", "."] {
        let err = NoProxy::parse("NO_PROXY", list).expect_err(list).to_string();
        assert!(err.starts_with("NO_PROXY: entry "), "{list}: {err}");
    }
    assert!(NoProxy::parse("NO_PROXY", "host:1").unwrap_err().to_string().contains("no port"));
}

#[test]
fn proxy_urls_table() {
    let ok = |text: &str| parse("-x", text).unwrap();
    let p = ok("http://u:p%40ss@proxy:3128");
    assert_eq!((p.kind, p.host.as_str(), p.port), (ProxyKind::Http, "proxy", 3128));
    assert_eq!(p.credentials, Some(("u".into(), "p@ss".into())));
    assert_eq!(p.display(), "http://u:***@proxy:3128");
    assert_eq!(ok("proxy").display(), "http://proxy:1080", "curl's default scheme and port");
    assert_eq!(ok("SOCKS5H://[::1]:1080/").display(), "socks5h://[::1]:1080");
    assert_eq!(ok("socks5://127.0.0.1:9050").kind, ProxyKind::Socks5 { remote_dns: false });
    for (text, needle) in [
        ("ftp://proxy:21", "not supported"),
        ("https://proxy:443", "not supported"),
        ("socks4://proxy", "not supported"),
        ("http://proxy:99999", "out of range"),
        ("http://proxy:0", "out of range"),
        ("http://proxy:port", "not a number"),
        ("http://", "no host"),
        ("http://pro xy:1", "not a valid host name"),
        ("http://proxy:1/path", "no path"),
        ("http://[::1:1", "closing"),
    ] {
        let err = parse("-x", text).expect_err(text).to_string();
        assert!(err.starts_with("-x: ") && err.contains(needle), "{text}: {err}");
    }
    let long = format!("socks5://{}:p@h:1", "u".repeat(256));
    assert!(parse("-x", &long).unwrap_err().to_string().contains("255"));
}

#[test]
fn the_environment_is_read_as_curl_reads_it() {
    let none = ProxyFlags::default();
    let https = "https://svc.example/";
    let http = "http://svc.example/";
    assert_eq!(chosen(none, &[("HTTPS_PROXY", "p:1")], https).as_deref(), Some("HTTPS_PROXY http://p:1"));
    assert_eq!(
        chosen(none, &[("https_proxy", "a:1"), ("HTTPS_PROXY", "b:1")], https).unwrap(),
        "https_proxy http://a:1"
    );
    // Upper-case HTTP_PROXY is never read (it can be set by a request's Proxy header under CGI).
    assert_eq!(chosen(none, &[("http_proxy", "a:1")], http).unwrap(), "http_proxy http://a:1");
    assert_eq!(chosen(none, &[("https_proxy", "a:1")], http), None, "the other scheme's variable");
    assert_eq!(chosen(none, &[("ALL_PROXY", "socks5h://s:1")], http).unwrap(), "ALL_PROXY socks5h://s:1");
    assert_eq!(chosen(none, &[("all_proxy", "s:1"), ("https_proxy", "h:1")], https).unwrap(), "https_proxy http://h:1");
    let vars = [("https_proxy", "p:1"), ("NO_PROXY", ".example")];
    assert_eq!(chosen(none, &vars, https), None);
    let noproxy_off = ProxyFlags { noproxy: Some(""), ..none };
    assert!(chosen(noproxy_off, &vars, https).is_some(), "--noproxy \"\" overrides NO_PROXY");
    let flag = ProxyFlags { proxy: Some("socks5://x:2"), ..none };
    assert_eq!(chosen(flag, &vars, https), None, "NO_PROXY applies to -x too");
    let star = ProxyFlags { proxy: Some("x:2"), noproxy: Some("*"), ..none };
    assert_eq!(chosen(star, &[], https), None);
    let empty = ProxyFlags { proxy: Some(""), ..none };
    assert_eq!(chosen(empty, &[("https_proxy", "p:1")], https), None, "-x \"\" turns the environment off");
}

#[test]
fn unusable_no_proxy_entries_are_skipped_from_the_environment_and_refused_from_the_flag() {
    let none = ProxyFlags::default();
    let https = "https://svc.example/";
    // No proxy applies: NO_PROXY does not matter, whatever it holds.
    assert_eq!(chosen(none, &[("NO_PROXY", "localhost:3000")], https), None);
    // A proxy applies: the entries it cannot use are skipped, as curl does, and the others still match.
    let vars = [("https_proxy", "p:1"), ("NO_PROXY", "localhost:3000, exa mple.com ,\tsvc.example\n")];
    assert_eq!(chosen(none, &vars, https), None);
    let vars = [("https_proxy", "p:1"), ("no_proxy", "localhost:3000,a b,10.0.0.0/33")];
    assert_eq!(chosen(none, &vars, https).as_deref(), Some("https_proxy http://p:1"));
    let url = Url::parse(https).unwrap();
    for flags in [
        ProxyFlags { proxy: Some("p:1"), noproxy: Some("localhost:3000"), ..none },
        ProxyFlags { noproxy: Some("a b"), ..none },
    ] {
        let err = choose(&flags, &ProxyEnv::default(), &url, false, false).unwrap_err().to_string();
        assert!(err.starts_with("--noproxy: entry"), "{err}");
    }
}

#[test]
fn tunnel_or_absolute_form() {
    let flags = ProxyFlags { proxy: Some("http://p:3128"), ..ProxyFlags::default() };
    let decide = |flags: &ProxyFlags, url: &str, http2: bool| {
        let url = Url::parse(url).unwrap();
        choose(flags, &ProxyEnv::default(), &url, http2, false).unwrap().unwrap().tunnel
    };
    assert!(!decide(&flags, "http://a/", false), "http:// in absolute form");
    assert!(decide(&flags, "https://a/", false), "https:// through CONNECT");
    assert!(decide(&flags, "http://a/", true), "h2c needs a tunnel");
    assert!(decide(&ProxyFlags { tunnel: true, ..flags }, "http://a/", false), "--proxy-tunnel");
    assert!(decide(&ProxyFlags { proxy: Some("socks5://p:1"), ..flags }, "http://a/", false));
}

#[test]
fn proxy_flags_without_a_proxy_or_beside_a_destination_are_refused() {
    let url = Url::parse("http://a/").unwrap();
    let headers = vec!["X-A: 1".to_string()];
    let lone = ProxyFlags { headers: &headers, ..ProxyFlags::default() };
    assert!(choose(&lone, &ProxyEnv::default(), &url, false, false).unwrap_err().to_string().contains("needs a proxy"));
    let tunnel = ProxyFlags { tunnel: true, ..ProxyFlags::default() };
    assert!(choose(&tunnel, &ProxyEnv::default(), &url, false, false).is_err());
    let socks = ProxyFlags { proxy: Some("socks5://p:1"), headers: &headers, ..ProxyFlags::default() };
    assert!(choose(&socks, &ProxyEnv::default(), &url, false, false).unwrap_err().to_string().contains("SOCKS5"));
    let flag = ProxyFlags { proxy: Some("p:1"), ..ProxyFlags::default() };
    assert!(choose(&flag, &ProxyEnv::default(), &url, false, true).is_err(), "-x with --connect-to");
    assert_eq!(choose(&ProxyFlags::default(), &env(&[("http_proxy", "p:1")]), &url, false, true), Ok(None));
    let bad_header = vec!["X-A: a\r\nb".to_string()];
    let bad = ProxyFlags { proxy: Some("p:1"), headers: &bad_header, ..ProxyFlags::default() };
    assert!(
        choose(&bad, &ProxyEnv::default(), &url, false, false).unwrap_err().to_string().starts_with("--proxy-header")
    );
}

#[test]
fn proxy_url_errors_never_show_the_password() {
    for (from, text) in [
        ("HTTPS_PROXY", "http://bob:s3cret@proxy:99999"),
        ("-x", "http://bob:s3cret@proxy:99999"),
        ("-x", "ftp://bob:s3cret@proxy:21"),
        ("all_proxy", "bob:s3cret@proxy:1/path"),
    ] {
        let err = parse(from, text).unwrap_err().to_string();
        assert!(err.contains("bob:***@proxy") && !err.contains("s3cret"), "{err}");
    }
}
