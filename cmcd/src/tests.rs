//! Tests against CTA-5004 §6's examples, round trips, malformed input and CMSD.

use http::header::HeaderName;

use super::cmcd::{resolve_relative, CMCD_OBJECT, CMCD_REQUEST, CMCD_SESSION, CMCD_STATUS};
use super::*;

/// CTA-5004 §6, the full query-mode example (every v1 key).
const SPEC_QUERY: &str = "CMCD=bl%3D21300%2Cbr%3D3200%2Cbs%2Ccid%3D%22faec5fc2-ac30-11ea-bb37-0242ac130002%22%2Cd%3D4004%2Cdl%3D18500%2Cmtp%3D48100%2Cnor%3D%22..%252F300kbps%252Ftrack.m4v%22%2Cnrr%3D%2212323-48763%22%2Cot%3Dv%2Cpr%3D1.08%2Crtp%3D12000%2Csf%3Dd%2Csid%3D%226e2fb550-c457-11e9-bb97-0800200c9a66%22%2Cst%3Dv%2Csu%2Ctb%3D6000";

/// The same data in header mode (CTA-5004 §6).
const SPEC_HEADERS: [(&str, &str); 4] = [
    (
        "cmcd-request",
        r#"bl=21300,dl=18500,mtp=48100,nor="..%2F300kbps%2Ftrack.m4v",nrr="12323-48763",su"#,
    ),
    ("cmcd-object", "br=3200,d=4004,ot=v,tb=6000"),
    ("cmcd-status", "bs,rtp=12000"),
    (
        "cmcd-session",
        r#"cid="faec5fc2-ac30-11ea-bb37-0242ac130002",pr=1.08,sf=d,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",st=v"#,
    ),
];

fn spec_cmcd() -> Cmcd {
    Cmcd {
        br: Some(3200),
        bl: Some(21300),
        bs: true,
        cid: Some("faec5fc2-ac30-11ea-bb37-0242ac130002".into()),
        d: Some(4004),
        dl: Some(18500),
        mtp: Some(48100),
        nor: Some("../300kbps/track.m4v".into()),
        nrr: Some("12323-48763".into()),
        ot: Some(ObjectType::Video),
        pr: Some(1.08),
        rtp: Some(12000),
        sf: Some(StreamingFormat::Dash),
        sid: Some("6e2fb550-c457-11e9-bb97-0800200c9a66".into()),
        st: Some(StreamType::Vod),
        su: true,
        tb: Some(6000),
        ..Default::default()
    }
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(HeaderName, Vec<u8>)> {
    pairs
        .iter()
        .map(|(n, v)| {
            (
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.as_bytes().to_vec(),
            )
        })
        .collect()
}

fn from_headers(pairs: &[(&str, &str)]) -> Result<Option<Cmcd>, Error> {
    let h = headers(pairs);
    Cmcd::from_headers(h.iter().map(|(n, v)| (n, v.as_slice())))
}

#[test]
fn spec_query_example_parses_and_serializes_byte_for_byte() {
    let q = format!("foo=1&{SPEC_QUERY}&bar");
    let c = Cmcd::from_query(&q).unwrap().unwrap();
    assert_eq!(c, spec_cmcd());
    assert_eq!(spec_cmcd().to_query_arg(), SPEC_QUERY);
    assert_eq!(strip_query(&q).as_deref(), Some("foo=1&bar"));
    assert_eq!(strip_query(SPEC_QUERY), None);
    assert_eq!(
        Cmcd::from_query("foo=1&cmcd=bs").unwrap(),
        None,
        "the name is case-sensitive"
    );
}

#[test]
fn spec_header_example_parses_and_serializes_byte_for_byte() {
    let c = from_headers(&SPEC_HEADERS).unwrap().unwrap();
    assert_eq!(c, spec_cmcd());
    let out: Vec<(String, String)> = spec_cmcd()
        .to_headers()
        .into_iter()
        .map(|(n, v)| (n.as_str().to_string(), v))
        .collect();
    let want: Vec<(String, String)> = SPEC_HEADERS
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert_eq!(out, want);
    assert_eq!(from_headers(&[("accept", "*/*")]).unwrap(), None);
}

#[test]
fn spec_small_examples() {
    // CTA-5004 §6 examples: a session id alone; nor/nrr/sid in both modes; a custom key.
    let c = Cmcd::from_query("CMCD=sid%3D%226e2fb550-c457-11e9-bb97-0800200c9a66%22")
        .unwrap()
        .unwrap();
    assert_eq!(
        c.sid.as_deref(),
        Some("6e2fb550-c457-11e9-bb97-0800200c9a66")
    );
    let c = Cmcd {
        nor: Some("../300kbps/track.m4v".into()),
        nrr: Some("12323-48763".into()),
        sid: Some("6e2fb550-c457-11e9-bb97-0800200c9a66".into()),
        ..Default::default()
    };
    assert_eq!(c.to_query_arg(), "CMCD=nor%3D%22..%252F300kbps%252Ftrack.m4v%22%2Cnrr%3D%2212323-48763%22%2Csid%3D%226e2fb550-c457-11e9-bb97-0800200c9a66%22");
    let h = c.to_headers();
    assert_eq!(
        h[0],
        (
            CMCD_REQUEST,
            r#"nor="..%2F300kbps%2Ftrack.m4v",nrr="12323-48763""#.into()
        )
    );
    assert_eq!(
        h[1],
        (
            CMCD_SESSION,
            r#"sid="6e2fb550-c457-11e9-bb97-0800200c9a66""#.into()
        )
    );
    // Custom keys (with upper case, as in the spec) are kept and written back.
    let c = Cmcd::parse(r#"com.example-myNumericKey=500,com.examplemyStringKey-x="myStringValue""#)
        .unwrap();
    assert_eq!(c.custom["com.example-myNumericKey"], Value::Integer(500));
    assert_eq!(
        c.to_dictionary(),
        r#"com.example-myNumericKey=500,com.examplemyStringKey-x="myStringValue""#
    );
    // A nor sent without percent-encoding (some players do) reads the same.
    assert_eq!(
        Cmcd::parse(r#"nor="../a/b.m4s""#).unwrap().nor.as_deref(),
        Some("../a/b.m4s")
    );
}

#[test]
fn round_trips() {
    let mut c = spec_cmcd();
    c.v = Some(2);
    c.custom.insert("x-y".into(), Value::Token("z".into()));
    c.pr = Some(0.5);
    assert_eq!(Cmcd::from_query(&c.to_query_arg()).unwrap().unwrap(), c);
    let h: Vec<(HeaderName, Vec<u8>)> = c
        .to_headers()
        .into_iter()
        .map(|(n, v)| (n, v.into_bytes()))
        .collect();
    assert_eq!(
        Cmcd::from_headers(h.iter().map(|(n, v)| (n, v.as_slice())))
            .unwrap()
            .unwrap(),
        c
    );
    assert_eq!(Cmcd::parse(&c.to_dictionary()).unwrap(), c);
    for t in ObjectType::ALL {
        let c = Cmcd {
            ot: Some(*t),
            ..Default::default()
        };
        assert_eq!(Cmcd::parse(&c.to_dictionary()).unwrap(), c);
        assert_eq!(super::cmcd::header_for_key("ot"), CMCD_OBJECT);
    }
    assert_eq!(super::cmcd::header_for_key("bs"), CMCD_STATUS);
    // v=1 is the default and not written; false booleans are not written.
    let c = Cmcd {
        v: Some(1),
        ..Default::default()
    };
    assert_eq!(c.to_dictionary(), "");
    assert_eq!(
        Cmcd::parse("bs=?0,su=?1").unwrap(),
        Cmcd {
            su: true,
            ..Default::default()
        }
    );
    // An empty argument is valid and empty.
    assert_eq!(Cmcd::from_query("CMCD=").unwrap(), Some(Cmcd::default()));
    // v2 inner lists: the first value.
    let c = Cmcd::parse(r#"br=(3200 128),nor=("seg2.m4s" "seg3.m4s")"#).unwrap();
    assert_eq!((c.br, c.nor.as_deref()), (Some(3200), Some("seg2.m4s")));
}

#[test]
fn malformed_cmcd_is_a_typed_error() {
    type Check = fn(&Error) -> bool;
    let cases: &[(&str, Check)] = &[
        (
            "br=3200,br=3300",
            |e| matches!(e, Error::DuplicateKey(k) if k == "br"),
        ),
        (
            "bs,bs",
            |e| matches!(e, Error::DuplicateKey(k) if k == "bs"),
        ),
        ("x-a=1,x-a=2", |e| matches!(e, Error::DuplicateKey(_))),
        (
            "br=\"high\"",
            |e| matches!(e, Error::WrongType { key, .. } if key == "br"),
        ),
        (
            "sid=abc",
            |e| matches!(e, Error::WrongType { key, .. } if key == "sid"),
        ),
        (
            "bs=1",
            |e| matches!(e, Error::WrongType { key, .. } if key == "bs"),
        ),
        (
            "ot=\"v\"",
            |e| matches!(e, Error::WrongType { key, .. } if key == "ot"),
        ),
        (
            "ot=zz",
            |e| matches!(e, Error::BadValue { key, .. } if key == "ot"),
        ),
        (
            "bl=-5",
            |e| matches!(e, Error::BadValue { key, .. } if key == "bl"),
        ),
        (
            "nrr=\"5-1\"",
            |e| matches!(e, Error::BadValue { key, .. } if key == "nrr"),
        ),
        ("nrr=\"bytes=1-2\"", |e| matches!(e, Error::BadValue { .. })),
        ("br=3200;", |e| matches!(e, Error::Syntax { .. })),
        ("br=32 00", |e| matches!(e, Error::Syntax { .. })),
        ("br=3200,", |e| matches!(e, Error::Syntax { .. })),
        ("sid=\"unterminated", |e| matches!(e, Error::Syntax { .. })),
        ("%%%", |e| matches!(e, Error::Syntax { .. })),
    ];
    for (input, ok) in cases {
        let e = Cmcd::parse(input).unwrap_err();
        assert!(ok(&e), "{input:?} gave {e:?}");
    }
    let long_sid = format!("sid=\"{}\"", "a".repeat(65));
    assert!(matches!(
        Cmcd::parse(&long_sid),
        Err(Error::BadValue { .. })
    ));
    let huge = format!("x-pad=\"{}\"", "a".repeat(5000));
    assert!(matches!(Cmcd::parse(&huge), Err(Error::TooLong { .. })));
    assert!(matches!(
        Cmcd::from_query("CMCD=bs&CMCD=su"),
        Err(Error::DuplicateParam)
    ));
    assert!(matches!(
        Cmcd::from_query("CMCD=%FF"),
        Err(Error::Syntax { .. })
    ));
    // Header mode: a key in two headers, a header twice.
    assert!(matches!(
        from_headers(&[("cmcd-request", "bl=1"), ("cmcd-status", "bl=2")]),
        Err(Error::DuplicateKey(_))
    ));
    assert!(matches!(
        from_headers(&[("cmcd-request", "bl=1"), ("cmcd-request", "dl=2")]),
        Err(Error::DuplicateHeader("cmcd-request"))
    ));
}

#[test]
fn nor_resolves_against_the_request_path_and_refuses_hostile_values() {
    let base = "/vod/bbb/720p/seg-5.m4s";
    let c = |nor: &str| Cmcd {
        nor: Some(nor.into()),
        ..Default::default()
    };
    assert_eq!(
        c("seg-6.m4s").resolve_nor(base).as_deref(),
        Some("/vod/bbb/720p/seg-6.m4s")
    );
    assert_eq!(
        c("../360p/seg-6.m4s").resolve_nor(base).as_deref(),
        Some("/vod/bbb/360p/seg-6.m4s")
    );
    assert_eq!(
        c("./x/../y.m4s").resolve_nor(base).as_deref(),
        Some("/vod/bbb/720p/y.m4s")
    );
    assert_eq!(
        c("/vod/other.m4s").resolve_nor(base).as_deref(),
        Some("/vod/other.m4s")
    );
    for hostile in [
        "http://evil.example/x",
        "//evil.example/x",
        "../../../../etc/passwd",
        "seg.m4s?CMCD=x",
        "",
        "javascript:alert(1)",
    ] {
        assert_eq!(c(hostile).resolve_nor(base), None, "{hostile:?}");
    }
    assert_eq!(resolve_relative(base, &"a/".repeat(600)), None, "huge");
    assert_eq!(Cmcd::default().resolve_nor(base), None);
}

#[test]
fn cmsd_static_and_dynamic_round_trip() {
    let s = CmsdStatic {
        ot: Some(ObjectType::Video),
        d: Some(2000),
        br: Some(800),
        n: Some("origin-1".into()),
        st: Some(StreamType::Vod),
        sf: Some(StreamingFormat::Dash),
        ..Default::default()
    };
    let v = s.to_header_value();
    assert_eq!(v, r#"br=800,d=2000,n="origin-1",ot=v,sf=d,st=v"#);
    assert_eq!(CmsdStatic::parse(&v).unwrap(), s);
    let d = CmsdDynamic {
        entries: vec![
            DynamicEntry {
                etp: Some(90_000),
                rd: Some(3),
                ..DynamicEntry::new("origin-1")
            },
            DynamicEntry {
                etp: Some(4200),
                du: true,
                rtt: Some(12),
                ..DynamicEntry::new("edge a")
            },
        ],
    };
    let v = d.to_header_value();
    assert_eq!(
        v,
        r#""origin-1";etp=90000;rd=3, "edge a";du;etp=4200;rtt=12"#
    );
    let back = CmsdDynamic::parse(&v).unwrap();
    assert_eq!(back, d);
    assert_eq!(back.closest().unwrap().server, "edge a");
    // CTA-5006's examples: tokens as server ids, `mb`, an unknown param kept.
    let e = CmsdDynamic::parse("CDNB-3ak1;etp=115;rtt=28;mb=5000;x-z=?1").unwrap();
    assert_eq!(e.entries[0].server, "CDNB-3ak1");
    assert_eq!(
        (e.entries[0].etp, e.entries[0].mb, e.entries[0].rtt),
        (Some(115), Some(5000), Some(28))
    );
    assert_eq!(e.entries[0].custom["x-z"], Value::Boolean(true));
    for bad in [
        "\"a\";etp=\"x\"",
        "\"a\";etp=1;etp=2",
        "(1 2)",
        "\"a\";du;du",
        "ot=q",
    ] {
        assert!(
            CmsdDynamic::parse(bad).is_err() || CmsdStatic::parse(bad).is_err(),
            "{bad:?}"
        );
    }
    assert!(CmsdStatic::parse("ot=q").is_err());
    assert!(CmsdStatic::parse("d=1,d=2").is_err());
}
