//! The MPDs this product writes validate against DASH-MPD.xsd (xmllint; a missing xmllint
//! fails the test with the install hint, it never skips).

use crate::common;

use manifests::schema::{validate_with_xmllint, validate_xml_with_xmllint};
use manifests::{ManifestError, Mpd};

fn validate(label: &str, mpd: &Mpd) {
    let xml = mpd.to_xml().expect("to_xml");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{label}.mpd"));
    std::fs::write(&file, &xml).unwrap();
    if let Err(e) = validate_with_xmllint(&file) {
        panic!("{label}: {e}\n{xml}");
    }
    assert_eq!(
        Mpd::parse(&xml).expect("parse back"),
        *mpd,
        "{label}: round trip"
    );
}

#[test]
fn product_mpd_validates() {
    let mpd = common::product_mpd();
    let xml = mpd.to_xml().unwrap();
    assert!(xml.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\""
    ));
    assert!(
        xml.contains(r#"media="$RepresentationID$/$Number$.m4s""#),
        "{xml}"
    );
    validate("product", &mpd);
}

#[test]
fn multi_edge_base_urls_validate() {
    validate("edges", &common::steered_mpd(false));
}

/// `ContentSteering` is DASH 6th edition; the shared schema is 5th edition + Amd 1, which
/// rejects it. The MPD must be valid apart from that one element, so that moving to a
/// 6th-edition schema only flips this test.
#[test]
fn content_steering_is_the_only_schema_gap() {
    let mpd = common::steered_mpd(true);
    let xml = mpd.to_xml().unwrap();
    assert!(xml.contains(r#"<ContentSteering defaultServiceLocation="edge-a edge-b" queryBeforeStart="true">http://steering.example:8090/steer?session=s1</ContentSteering>"#), "{xml}");
    assert_eq!(Mpd::parse(&xml).unwrap(), mpd);
    match validate_xml_with_xmllint(&xml) {
        Ok(()) => {}
        Err(ManifestError::SchemaInvalid { output, .. }) => {
            let errors: Vec<&str> = output
                .lines()
                .filter(|l| l.contains("validity error"))
                .collect();
            assert!(
                !errors.is_empty()
                    && errors
                        .iter()
                        .all(|l| l.contains("ContentSteering': This element is not expected")),
                "unexpected schema errors:\n{output}"
            );
        }
        Err(e) => panic!("{e}"),
    }
    let mut without = mpd.clone();
    without.content_steering = None;
    validate("steering-stripped", &without);
}

#[test]
fn invalid_order_is_rejected() {
    // The validator must really validate: an out-of-order document fails.
    let xml = common::product_mpd().to_xml().unwrap();
    let bad = xml.replacen(
        "<Period",
        "<Period><AdaptationSet/><BaseURL>x/</BaseURL></Period>\n  <Period",
        1,
    );
    match validate_xml_with_xmllint(&bad) {
        Err(ManifestError::SchemaInvalid { output, .. }) => {
            assert!(output.contains("BaseURL"), "{output}")
        }
        other => panic!("expected a schema error, got {other:?}"),
    }
}
