# Shared helpers for scripts/: installing Debian packages and checking the toolchain.
# Sourced, not run.

# Installs the given Debian packages that are not installed yet. Fails loudly
# (exit 1) when they are missing and cannot be installed.
ensure_debian_packages() {
    local missing=()
    local package
    for package in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$package")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing: ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "error: these packages are missing and I am not root (and there is no sudo): ${missing[*]}" >&2
            exit 1
        fi
    fi
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
        ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
        echo "error: could not install: ${missing[*]}" >&2
        exit 1
    fi
}

# Rust must come from rustup: Debian's cargo is too old for this crate.
ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        echo "error: cargo is missing. Install Rust with rustup (https://rustup.rs), then run this again." >&2
        exit 1
    fi
}

# What building vigie needs: a C compiler, make and perl build the vendored
# libssh2 and OpenSSL, so no system library is needed at run time.
BUILD_PACKAGES=(gcc make perl pkg-config)
