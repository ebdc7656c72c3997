# The checks that the crate builds beyond this machine: with its stated
# minimum Rust (rust-version in Cargo.toml), and for macOS and FreeBSD;
# and that a build for users carries no test hook. Sourced by scripts/test.
#
# The test suite itself is built and run with the minimum toolchain (see
# test_toolchain): that proves rust-version with no separate build, which
# matters on a 2-core CI machine with a 20-minute budget and little disk.

# The rust-version of Cargo.toml, e.g. 1.88.
minimum_rust() {
    sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml
}

# Installs the minimum toolchain and the foreign targets' standard
# libraries when rustup is there and they are missing.
install_portability_toolchains() {
    command -v rustup >/dev/null 2>&1 || return 0
    local minimum
    minimum="$(minimum_rust)"
    if ! rustup toolchain list | grep -q "^$minimum"; then
        rustup toolchain install "$minimum" --profile minimal
    fi
    rustup target add x86_64-apple-darwin x86_64-unknown-freebsd
}

# The `+toolchain` argument cargo builds and runs the tests with: the
# minimum Rust when rustup is there, else (a distribution toolchain) none.
test_toolchain() {
    if command -v rustup >/dev/null 2>&1; then
        printf '+%s\n' "$(minimum_rust)"
    fi
}

# Lints the library and the binary for macOS and FreeBSD in one cargo run
# (the platform-specific code is all there; the tests only run on Linux).
# openssl-sys's build script only reads the OpenSSL headers' version, so
# the host's stand in for FreeBSD's (macOS uses the Security framework).
check_foreign_targets() {
    X86_64_UNKNOWN_FREEBSD_OPENSSL_LIB_DIR="$(pkg-config --variable=libdir openssl)" \
    X86_64_UNKNOWN_FREEBSD_OPENSSL_INCLUDE_DIR="$(pkg-config --variable=includedir openssl)" \
        cargo clippy --locked --target x86_64-apple-darwin --target x86_64-unknown-freebsd \
        --lib --bins -- -D warnings
}

# A plain build (as `cargo build --release` and `cargo install` resolve
# features: without the tests' dev-dependency) has no test hook compiled in.
# Built with the tests' toolchain: the dependencies it compiles are the
# ones `cargo test` then reuses.
check_no_test_hooks() {
    cargo $(test_toolchain) build --locked --bin mailferry
    local binary="${CARGO_TARGET_DIR:-target}/debug/mailferry"
    if grep -q MAILFERRY_TEST_ABORT_AFTER_STEPS "$binary"; then
        echo "error: $binary reads MAILFERRY_TEST_ABORT_AFTER_STEPS: test hooks leaked into a plain build" >&2
        return 1
    fi
}
