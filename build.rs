//! Stamps each build of the library with an identifier, so `flightdeck serve` hands over only
//! to a `flightdeck-serve` built from the same sources (a stale sibling left by an earlier build
//! would serve old code).

fn main() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    println!(
        "cargo:rustc-env=FLIGHTDECK_BUILD_ID={now:x}-{:x}",
        std::process::id()
    );
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
}
