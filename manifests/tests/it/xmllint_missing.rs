//! Without xmllint, validation fails (with the install hint); it never passes silently.
//!
//! `$XMLLINT` is process-wide and the other tests of this binary validate with the real
//! xmllint at the same time, so the check runs in a child process of this test binary with
//! `XMLLINT=/nonexistent/xmllint` in its environment only.

const CHILD_MARKER: &str = "MANIFESTS_TEST_XMLLINT_MISSING_CHILD";

#[test]
fn missing_xmllint_is_an_error_not_a_skip() {
    if std::env::var_os(CHILD_MARKER).is_some() {
        let err = manifests::schema::validate_xml_with_xmllint("<MPD/>").unwrap_err();
        assert!(
            matches!(err, manifests::ManifestError::XmllintMissing(_)),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("apt-get install libxml2-utils"),
            "{err}"
        );
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "xmllint_missing::missing_xmllint_is_an_error_not_a_skip",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD_MARKER, "1")
        .env(manifests::schema::XMLLINT_ENV, "/nonexistent/xmllint")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
