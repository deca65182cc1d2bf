# Shared helpers for scripts/: installing Debian packages and checking the toolchain.
# Sourced, not run.

# Installs the given Debian packages that are not installed yet. Fails loudly
# (exit 1) when they are missing and cannot be installed.
# Prints, one a line, the given packages that are not installed.
missing_packages() {
    local package
    for package in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
            echo "$package"
        fi
    done
}

ensure_debian_packages() {
    local missing=()
    mapfile -t missing < <(missing_packages "$@")
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

# The hypervisor lab: QEMU and libvirt. qemu-system-x86 must come from the
# same Debian suite as the installed qemu-utils (these machines carry
# bookworm-backports' qemu-utils; apt refuses a mix), and libvirt with it:
# libvirt 9 passes -no-acpi, which QEMU 10 refuses.
ensure_hypervisor_packages() {
    local packages=(qemu-system-x86 libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients)
    local qemu_utils
    qemu_utils="$(dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null || true)"
    if [[ "$qemu_utils" != *bpo* ]]; then
        ensure_debian_packages "${packages[@]}"
        return
    fi
    local missing=()
    mapfile -t missing < <(missing_packages "${packages[@]}")
    [ ${#missing[@]} -eq 0 ] && return 0
    local suite
    suite="$(. /etc/os-release && echo "${VERSION_CODENAME}")-backports"
    local sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    if ! grep -rqs "$suite" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "==> adding $suite (for qemu-system-x86 matching qemu-utils $qemu_utils)"
        printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$suite" |
            "${sudo[@]}" tee /etc/apt/sources.list.d/vigie-backports.sources >/dev/null
    fi
    echo "==> installing from $suite: ${missing[*]}"
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
        ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            -t "$suite" "${missing[@]}"; then
        echo "error: could not install the hypervisor lab: ${missing[*]}" >&2
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
