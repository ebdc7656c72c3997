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

# Where Cyrus IMAP and Courier-IMAP are unpacked for the tests (the server
# matrix of tests/support/servers). The test harness reads the same default;
# MAILFERRY_TEST_SERVER_ROOT moves it.
MATRIX_ROOT="${MAILFERRY_TEST_SERVER_ROOT:-/opt/mailferry-test/root}"

# The libraries Debian 12's cyrus-imapd 3.6 and courier-imap 5.0 link with.
MATRIX_LIBRARIES=(
    libclamav12 libical3 libicu72 libjansson4 libpcre3 libsqlite3-0 libwrap0
    libxapian30 libzephyr4 libcourier-unicode4 libgamin0 libgdbm6 libidn12
    libltdl7 sasl2-bin libsasl2-modules
)
# The server packages, unpacked into MATRIX_ROOT rather than installed: both
# conflict with dovecot-imapd (Conflicts: imap-server), and apt would remove
# Dovecot to install them.
MATRIX_SERVER_DEBS=(
    cyrus-imapd cyrus-common courier-imap courier-base courier-authlib
    courier-authdaemon courier-authlib-userdb
)

# Cyrus and Courier for the server matrix, beside Dovecot: their libraries
# from apt, their binaries unpacked from the downloaded packages into
# MATRIX_ROOT, and the accounts they run as (cyrus in group mail, courier).
# Quick when done already: a stamp names the package versions unpacked.
install_server_matrix() {
    local missing=()
    for package in "${MATRIX_LIBRARIES[@]}"; do
        if ! package_installed "$package"; then
            missing+=("$package")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "Installing ${missing[*]} (libraries of Cyrus and Courier)"
        apt_install "${missing[@]}"
    fi

    ensure_group mail
    ensure_user cyrus mail
    ensure_group courier
    ensure_user courier courier
    # Courier's compiled-in paths: the harness bind-mounts them in the
    # server's own mount namespace; on the host they stay empty.
    as_root mkdir -p /etc/courier /run/courier /usr/lib/courier /usr/lib/courier-authlib

    local stamp="$MATRIX_ROOT/.unpacked"
    if [ -f "$stamp" ] && [ -x "$MATRIX_ROOT/usr/lib/cyrus/bin/master" ] \
        && [ -x "$MATRIX_ROOT/usr/bin/imapd" ]; then
        return 0
    fi
    echo "Unpacking ${MATRIX_SERVER_DEBS[*]} into $MATRIX_ROOT"
    local debs
    debs="$(mktemp -d)"
    # apt-get download writes into the current directory, as the user
    # _apt when root: the directory must be writable for it.
    chmod 0777 "$debs"
    if ! (cd "$debs" && apt-get download "${MATRIX_SERVER_DEBS[@]}"); then
        # Stale package lists name versions the mirror no longer has.
        as_root apt-get update
        apt_updated=yes
        (cd "$debs" && apt-get download "${MATRIX_SERVER_DEBS[@]}") || {
            rm -rf "$debs"
            return 1
        }
    fi
    as_root mkdir -p "$MATRIX_ROOT"
    for deb in "$debs"/*.deb; do
        as_root dpkg -x "$deb" "$MATRIX_ROOT"
    done
    (cd "$debs" && ls ./*.deb) | as_root tee "$stamp" >/dev/null
    rm -rf "$debs"
}

ensure_group() {
    if ! getent group "$1" >/dev/null; then
        as_root groupadd --system "$1"
    fi
}

# ensure_user NAME GROUP: a system user without a login shell.
ensure_user() {
    if ! getent passwd "$1" >/dev/null; then
        as_root useradd --system --gid "$2" --no-create-home --shell /usr/sbin/nologin "$1"
    elif ! id -nG "$1" | tr ' ' '\n' | grep -qx "$2"; then
        as_root usermod -a -G "$2" "$1"
    fi
}
