//! Without xmllint, validation fails (with the install hint); it never passes silently.
//! Own test binary because it changes the process environment.

#[test]
fn missing_xmllint_is_an_error_not_a_skip() {
    std::env::set_var(manifests::schema::XMLLINT_ENV, "/nonexistent/xmllint");
    let err = manifests::schema::validate_xml_with_xmllint("<MPD/>").unwrap_err();
    assert!(
        matches!(err, manifests::ManifestError::XmllintMissing(_)),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("apt-get install libxml2-utils"),
        "{err}"
    );
}
