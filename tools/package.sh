#!/bin/bash
# package.sh -- self-contained releases of guest-agent and guestctl, and Debian packages of them.
#
# For each architecture asked for (linux-x64, linux-arm64), publishes the agent
# (src/GuestAgent.Agent) and guestctl (src/GuestAgent.Cli) self-contained (the .NET runtime
# inside: the guest needs no .NET) and writes to the output directory (default artifacts/packages):
#
#   guest-agent-VERSION-linux-ARCH.tar.gz   the agent, unpacked under guest-agent/
#   guestctl-VERSION-linux-ARCH.tar.gz      guestctl, unpacked under guestctl/
#   guest-agent_DEBVERSION_DEBARCH.deb      the guest's package (layout in docs/operations.md):
#       /opt/guest-agent/                   the agent (guest-agent and its assemblies)
#       /usr/sbin/guest-agent               a link to it
#       /etc/guest-agent/guest-agent.conf   the reference configuration, a conffile
#       /lib/systemd/system/guest-agent.service
#       /var/lib/guest-agent                the state directory, made by postinst (0700), kept
#                                           on remove and upgrade, deleted on purge only
#   guestctl_DEBVERSION_DEBARCH.deb         the controller's command line: /opt/guestctl/,
#                                           /usr/bin/guestctl
#   guest-agent-VERSION-win-x64.zip         the Windows agent (with --arch win-x64 or all), unpacked
#                                           under guest-agent/: guest-agent.exe and its runtime (not
#                                           single-file), install-service.ps1 (tools/windows), the
#                                           sample windows-single-tenant.conf and the reference
#                                           guest-agent.conf; install: .\install-service.ps1 as Administrator
#
# The version is the VERSION file at the repository's root unless --version (or the
# GUESTAGENT_VERSION variable) says otherwise; it goes into the binaries (guest-agent --version)
# and the packages ('-' becomes '~' in the Debian version, so 1.2.0-rc1 sorts before 1.2.0).
#
# An architecture whose .NET runtime pack cannot be restored here (an offline NuGet feed without
# it) is reported as not built, by name, and the script exits 3 after building the others;
# nothing is faked.
#
# Usage: tools/package.sh [--arch x64|arm64|win-x64|all] [--version V] [--out DIR] [--only agent|guestctl]
#                         [--no-publish] [--no-tarball] [--quick]
#   --arch        architectures (default all: x64, arm64 and the Windows agent win-x64)
#   --only        build one of the two programs only
#   --no-publish  package what an earlier run published into OUT/publish (same --arch/--only;
#                the binaries keep the version they were published with)
#   --no-tarball  .deb files only
#   --quick       for tests of the packaging, not for releases: IL only, compiled at run time
#                 (releases carry precompiled ReadyToRun code for every assembly but
#                 LanguageExt.Core, which takes minutes to build and starts the agent in 0.39 s
#                 instead of 0.57: docs/performance.md), and light compression (xz -1, not -6)
# Exit status: 0 all built, 1 a build failed, 2 bad usage, 3 an architecture could not be built here.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

arch=all
version="${GUESTAGENT_VERSION:-}"
out="$ROOT/artifacts/packages"
only=""
publish=1
tarball=1
readytorun=true
xzlevel=6
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
while (( $# )); do
    case "$1" in
        --arch) arch="${2:?--arch needs x64, arm64 or all}"; shift 2 ;;
        --version) version="${2:?--version needs a version}"; shift 2 ;;
        --out) out="${2:?--out needs a directory}"; shift 2 ;;
        --only) only="${2:?--only needs agent or guestctl}"; shift 2 ;;
        --no-publish) publish=0; shift ;;
        --no-tarball) tarball=0; shift ;;
        --quick) readytorun=false; xzlevel=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "package.sh: unknown argument '$1' (--help lists them)" >&2; exit 2 ;;
    esac
done
case "$arch" in
    all) arches=(x64 arm64); windows=1 ;;
    x64|arm64) arches=("$arch"); windows=0 ;;
    win-x64) arches=(); windows=1 ;;
    *) echo "package.sh: --arch must be x64, arm64, win-x64 or all, not '$arch'" >&2; exit 2 ;;
esac
case "$only" in
    "") programs=(agent guestctl) ;;
    agent|guestctl) programs=("$only") ;;
    *) echo "package.sh: --only must be agent or guestctl, not '$only'" >&2; exit 2 ;;
esac
[[ -n "$version" ]] || version="$(tr -d '[:space:]' < "$ROOT/VERSION")"
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]]; then
    echo "package.sh: version '$version' is not MAJOR.MINOR.PATCH[-PRERELEASE] (e.g. 1.2.0 or 1.2.0-rc1)" >&2; exit 2
fi
debversion="${version//-/\~}"
for tool in dotnet dpkg-deb fakeroot tar gzip $( (( windows )) && echo zip); do
    command -v "$tool" >/dev/null || { echo "package.sh: '$tool' is missing (apt-get install ${tool/dpkg-deb/dpkg})" >&2; exit 1; }
done
mkdir -p "$out"
out="$(cd "$out" && pwd)"

project_of() { [[ "$1" == agent ]] && echo "$ROOT/src/GuestAgent.Agent/GuestAgent.Agent.csproj" || echo "$ROOT/src/GuestAgent.Cli/GuestAgent.Cli.csproj"; }
name_of() { [[ "$1" == agent ]] && echo guest-agent || echo guestctl; }

# publish PROGRAM RID DIR: a self-contained release into DIR. Returns 3 when the RID's runtime
# pack is not to be had (restore fails naming it), 1 on any other failure.
publish() {
    local program="$1" rid="$2" dir="$3" log
    log="$(mktemp)"
    rm -rf "$dir"
    echo "package.sh: publishing $(name_of "$program") $version for $rid"
    # Not trimmed: a trimmed agent (a fifth less idle RSS) breaks operation blocks loaded from a
    # directory, which call framework code the agent itself never did (docs/performance.md,
    # tools/test-trimmed.sh). ReadyToRun: precompiled code, which the agent starts on without
    # JIT-compiling Akka.NET and the journal stack first (LanguageExt.Core is left out in
    # Directory.Build.props).
    if ! dotnet publish "$(project_of "$program")" -nologo -v:q -c Release -r "$rid" --self-contained true \
            -p:PublishReadyToRun="$readytorun" -p:Version="$version" -p:DebugType=none -p:GenerateDocumentationFile=false -o "$dir" >"$log" 2>&1; then
        # The runtime pack (or apphost pack) of this RID itself was not found, or could not be fetched.
        if grep -Eq "(error (NU110[0-2]|NU1301).*Microsoft\.(NETCore\.App\.(Runtime|Host)|AspNetCore\.App\.Runtime)\.$rid)|NETSDK1112|NETSDK1094" "$log"; then
            echo "package.sh: cannot build for $rid here: the .NET runtime pack for $rid could not be restored:" >&2
            grep -E "error" "$log" | sort -u | head -5 >&2
            rm -f "$log"; return 3
        fi
        echo "package.sh: publishing $(name_of "$program") for $rid failed:" >&2
        grep -E "error|Error" "$log" | sort -u | head -20 >&2
        rm -f "$log"; return 1
    fi
    rm -f "$log"
}

# control FILE PACKAGE DEBARCH INSTALLED_KIB DESCRIPTION...
control() {
    local file="$1" package="$2" debarch="$3" size="$4"; shift 4
    cat >"$file" <<EOF
Package: $package
Version: $debversion
Architecture: $debarch
Maintainer: GuestAgent maintainers <guest-agent@localhost>
Installed-Size: $size
Depends: libc6 (>= 2.27), libgcc-s1 | libgcc1, libstdc++6 (>= 8), libssl3 | libssl1.1
Section: admin
Priority: optional
$(printf '%s\n' "$@")
EOF
}

# md5sums STAGE: DEBIAN/md5sums, so that `dpkg --verify` can tell a changed file on a guest.
md5sums() {
    ( cd "$1" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum > DEBIAN/md5sums )
    chmod 0644 "$1/DEBIAN/md5sums"
}

deb_agent() {
    local rid="$1" debarch="$2" pub="$3" stage
    stage="$(mktemp -d)"; chmod 0755 "$stage"
    install -d -m 0755 "$stage/DEBIAN" "$stage/opt/guest-agent" "$stage/usr/sbin" "$stage/etc/guest-agent" \
        "$stage/lib/systemd/system" "$stage/usr/share/doc/guest-agent"
    cp -a "$pub/." "$stage/opt/guest-agent/"
    chmod -R u=rwX,go=rX "$stage/opt/guest-agent"
    chmod 0755 "$stage/opt/guest-agent/guest-agent"
    ln -s ../../opt/guest-agent/guest-agent "$stage/usr/sbin/guest-agent"
    install -m 0644 "$ROOT/hocon/guest-agent.conf" "$stage/etc/guest-agent/guest-agent.conf"
    install -m 0644 "$ROOT/tools/systemd/guest-agent.service" "$stage/lib/systemd/system/guest-agent.service"
    install -m 0644 "$ROOT/hocon/examples/"*.conf "$stage/usr/share/doc/guest-agent/"
    [[ -f "$ROOT/docs/operations.md" ]] && install -m 0644 "$ROOT/docs/operations.md" "$stage/usr/share/doc/guest-agent/"
    echo "/etc/guest-agent/guest-agent.conf" > "$stage/DEBIAN/conffiles"
    for script in postinst prerm postrm; do
        install -m 0755 "$ROOT/tools/debian/guest-agent.$script" "$stage/DEBIAN/$script"
    done
    control "$stage/DEBIAN/control" guest-agent "$debarch" "$(du -sk --exclude=DEBIAN "$stage" | cut -f1)" \
        "Description: GuestAgent: runs a cloud tenant's commands inside the guest" \
        " guest-agent takes commands from the tenant's OpenStack Zaqar queue (or an AMQP" \
        " broker), runs them in the guest (shell commands, files to and from the guest, HTTP" \
        " requests from the guest) and posts signed results to a reply queue. Casts survive" \
        " agent crashes and upgrades: the command ledger lives in /var/lib/guest-agent." \
        " Self-contained: the .NET runtime is inside /opt/guest-agent."
    md5sums "$stage"
    local deb="$out/guest-agent_${debversion}_${debarch}.deb"
    fakeroot dpkg-deb --build -Zxz -z"$xzlevel" "$stage" "$deb" >/dev/null
    rm -rf "$stage"
    echo "package.sh: $deb ($(du -h "$deb" | cut -f1))"
}

deb_guestctl() {
    local rid="$1" debarch="$2" pub="$3" stage
    stage="$(mktemp -d)"; chmod 0755 "$stage"
    install -d -m 0755 "$stage/DEBIAN" "$stage/opt/guestctl" "$stage/usr/bin"
    cp -a "$pub/." "$stage/opt/guestctl/"
    chmod -R u=rwX,go=rX "$stage/opt/guestctl"
    chmod 0755 "$stage/opt/guestctl/guestctl"
    ln -s ../../opt/guestctl/guestctl "$stage/usr/bin/guestctl"
    control "$stage/DEBIAN/control" guestctl "$debarch" "$(du -sk --exclude=DEBIAN "$stage" | cut -f1)" \
        "Description: GuestAgent controller command line" \
        " guestctl sends calls and casts to guest-agent through Zaqar, copies files to and" \
        " from guests, and mints and renews a guest's pre-signed Zaqar URLs." \
        " Self-contained: the .NET runtime is inside /opt/guestctl."
    md5sums "$stage"
    local deb="$out/guestctl_${debversion}_${debarch}.deb"
    fakeroot dpkg-deb --build -Zxz -z"$xzlevel" "$stage" "$deb" >/dev/null
    rm -rf "$stage"
    echo "package.sh: $deb ($(du -h "$deb" | cut -f1))"
}

# zip_windows PUB: the Windows agent's zip, guest-agent/ holding the release, its install script and configs.
zip_windows() {
    local pub="$1" stage zipfile="$out/guest-agent-$version-win-x64.zip"
    stage="$(mktemp -d)"
    cp -a "$pub" "$stage/guest-agent"
    install -m 0644 "$ROOT/tools/windows/install-service.ps1" "$ROOT/hocon/examples/windows-single-tenant.conf" \
        "$ROOT/hocon/guest-agent.conf" "$stage/guest-agent/"
    rm -f "$zipfile"
    ( cd "$stage" && zip -qr -X "$zipfile" guest-agent )
    rm -rf "$stage"
    echo "package.sh: $zipfile ($(du -h "$zipfile" | cut -f1))"
}

status=0
not_built=()
for a in "${arches[@]}"; do
    rid="linux-$a"
    debarch=$([[ "$a" == x64 ]] && echo amd64 || echo arm64)
    for program in "${programs[@]}"; do
        name="$(name_of "$program")"
        pub="$out/publish/$rid/$name"
        if (( publish )); then
            rc=0; publish "$program" "$rid" "$pub" || rc=$?
            if (( rc == 3 )); then not_built+=("$rid"); break; fi
            if (( rc != 0 )); then status=1; continue; fi
        elif [[ ! -x "$pub/$name" ]]; then
            echo "package.sh: --no-publish, but $pub/$name was never published (run without --no-publish first)" >&2
            status=1; continue
        fi
        if (( tarball )); then
            tgz="$out/$name-$version-$rid.tar.gz"
            tar -C "$out/publish/$rid" --owner=0 --group=0 --numeric-owner -czf "$tgz" "$name"
            echo "package.sh: $tgz ($(du -h "$tgz" | cut -f1))"
        fi
        if [[ "$program" == agent ]]; then deb_agent "$rid" "$debarch" "$pub"; else deb_guestctl "$rid" "$debarch" "$pub"; fi
    done
done
if (( windows )) && [[ " ${programs[*]} " == *" agent "* ]]; then
    pub="$out/publish/win-x64/guest-agent"
    rc=0
    if (( publish )); then publish agent win-x64 "$pub" || rc=$?; fi
    if (( rc == 3 )); then not_built+=(win-x64)
    elif (( rc != 0 )); then status=1
    elif [[ ! -f "$pub/guest-agent.exe" ]]; then
        echo "package.sh: --no-publish, but $pub/guest-agent.exe was never published (run without --no-publish first)" >&2; status=1
    else zip_windows "$pub"
    fi
fi
if (( ${#not_built[@]} )); then
    echo "package.sh: NOT BUILT: ${not_built[*]} (its .NET runtime pack is not in the NuGet feeds this machine reaches)" >&2
    (( status != 0 )) || status=3
fi
exit "$status"
