# Installs what the tests and the demo need when it is missing; sourced by
# scripts/test and scripts/demo. Debian/Ubuntu (apt-get) only.

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo "$@"
    fi
}

apt_updated=no

apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: apt-get not found; install these yourself: $*" >&2
        return 1
    fi
    # The package lists may be missing or stale on a fresh machine.
    if [ "$apt_updated" = no ]; then
        as_root apt-get update
        apt_updated=yes
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}

package_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# Dovecot with IMAP and POP3 (the tests start their own instances),
# openssl (the tests make their own certificates), mbsync (package isync:
# the adopt tests start from a Maildir it made) and the mail readers the
# adopt tests compare with the server (notmuch, mutt under tmux), and GNU
# time (the hostile-server tests read peak memory from it).
install_system_packages() {
    local missing=()
    for package in dovecot-imapd dovecot-pop3d openssl isync notmuch mutt tmux time; do
        if ! package_installed "$package"; then
            missing+=("$package")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "Installing ${missing[*]}"
        apt_install "${missing[@]}"
    fi
}

install_rust_components() {
    if ! command -v rustup >/dev/null 2>&1; then
        # No rustup (a distribution toolchain): fmt and clippy must be there.
        cargo fmt --version >/dev/null
        cargo clippy --version >/dev/null
        return
    fi
    local installed
    installed="$(rustup component list --installed)"
    for component in rustfmt clippy; do
        if ! grep -q "^$component" <<<"$installed"; then
            rustup component add "$component"
        fi
    done
}

# For scripts/bench only (not scripts/test): mbsync (Debian package isync),
# the reference the benchmark compares with, and GNU time for peak memory.
install_bench_packages() {
    local missing=()
    for package in isync time; do
        if ! package_installed "$package"; then
            missing+=("$package")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "Installing ${missing[*]}"
        apt_install "${missing[@]}"
    fi
}
