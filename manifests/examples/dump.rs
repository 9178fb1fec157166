//! Prints an MPD file re-serialized by the model (debugging aid).
fn main() {
    let path = std::env::args().nth(1).expect("usage: dump FILE.mpd");
    let text = std::fs::read_to_string(&path).expect("read");
    match manifests::Mpd::parse(&text) {
        Ok(mpd) => print!("{}", mpd.to_xml().expect("write")),
        Err(e) => eprintln!("{e}"),
    }
}
