#!/usr/bin/env bash
# test/package/run.sh: the Debian package alone installs a working ntk.
#
#  1. META.json is PGXN meta spec 1.0.0 and agrees with ntk.control and
#     debian/changelog on the version;
#  2. builds postgresql-15-ntk_<version>_amd64.deb with dpkg-buildpackage from
#     a clean copy of the tree (the tracked and unignored files, so no build
#     products) in a temporary directory;
#  3. checks the package: its dependencies (PostgreSQL 15, OpenBLAS, LAPACKE)
#     and that it ships every ntk--*.sql install script of the tree;
#  4. moves the make-installed extension aside (ntk.so, its bitcode, the
#     control file and the install scripts), installs the package with
#     apt-get install ./postgresql-15-ntk_*.deb, checks that every file of the
#     extension now belongs to the package, and runs the regression suite
#     (make installcheck) on a throwaway cluster (test/cluster.sh, port
#     NTK_TEST_PORT);
#  5. purges the package and puts the make-installed files back as they were,
#     also on failure.
#
# Needs root.  It changes the shared PostgreSQL install, so it runs under
# flock /tmp/ntk-install.lock, unless NTK_INSTALL_LOCKED=1 says the caller
# already holds that lock.  The last line is "package: ok" or "package:
# FAILED"; the exit status is non-zero on any failure.
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$(pwd)
PY=/usr/bin/python3

if [ "$(id -u)" != 0 ]; then
    echo "package: run as root (installs and removes a package)" >&2
    exit 2
fi
if [ "${NTK_INSTALL_LOCKED:-0}" != 1 ]; then
    exec env NTK_INSTALL_LOCKED=1 flock /tmp/ntk-install.lock bash "$0" "$@"
fi

. test/deps.sh
. test/cluster.sh

PKG=postgresql-15-ntk
PG_CONFIG=${PG_CONFIG:-pg_config}
LIBDIR=$($PG_CONFIG --pkglibdir)
EXTDIR=$($PG_CONFIG --sharedir)/extension
export DEBIAN_FRONTEND=noninteractive

fail() { echo "package: $*" >&2; exit 1; }

# the extension's files in the system install: what make install put there
installed_files() {
    local f
    for f in "$LIBDIR/ntk.so" "$LIBDIR/bitcode/ntk.index.bc" "$LIBDIR/bitcode/ntk" \
             "$EXTDIR/ntk.control" "$EXTDIR"/ntk--*.sql; do
        [ -e "$f" ] && echo "$f"
    done
}

installed_sums() {
    installed_files | xargs -r -d '\n' find | sort | while IFS= read -r f; do
        [ -f "$f" ] && md5sum "$f"
    done
}

restore() {
    local rc=$?
    cluster_stop
    if dpkg-query -W -f='${Status}' $PKG 2>/dev/null | grep -q "ok installed"; then
        apt-get purge -y -q $PKG >/dev/null 2>&1 || echo "package: could not purge $PKG" >&2
    fi
    if [ -s "$SAVED" ]; then
        if ! tar -x -P -f "$SAVED"; then
            echo "package: could not restore the make-installed files from $SAVED" >&2; rc=1
        elif ! installed_sums | cmp -s - "$WORK/make-installed.md5"; then
            echo "package: the make-installed files differ after restoring them from $SAVED" >&2; rc=1
        else
            echo "restored the make-installed files"
        fi
    fi
    if [ "$rc" = 0 ]; then
        rm -rf "$WORK"; echo "package: ok"
    else
        echo "package: FAILED (kept $WORK)"
    fi
    exit $rc
}

if dpkg-query -W -f='${Status}' $PKG 2>/dev/null | grep -q "ok installed"; then
    echo "package: $PKG is installed already; this test would remove it (apt-get purge $PKG first)" >&2
    exit 2
fi
WORK=$(mktemp -d /tmp/ntk-package.XXXXXX)
chmod 755 "$WORK"
SAVED=$WORK/make-installed.tar
trap restore EXIT

# --- 1. META.json --------------------------------------------------------
CONTROL_VERSION=$(sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" ntk.control)
DEB_VERSION=$(dpkg-parsechangelog -l debian/changelog -S Version)
[ "$DEB_VERSION" = "$CONTROL_VERSION" ] \
    || fail "debian/changelog says $DEB_VERSION, ntk.control default_version $CONTROL_VERSION"
$PY - "$CONTROL_VERSION" <<'PY' || fail "META.json"
import json, os, re, sys
want = sys.argv[1]
m = json.load(open("META.json"))
semver = re.compile(r"^\d+\.\d+\.\d+$")
errors = []
for key in ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec"):
    if key not in m:
        errors.append("no " + key)
if m.get("meta-spec", {}).get("version") != "1.0.0":
    errors.append("meta-spec version is not 1.0.0")
if m.get("name") != "ntk":
    errors.append("name is not ntk")
if m.get("version") != want:
    errors.append("version %s, ntk.control says %s" % (m.get("version"), want))
ntk = m.get("provides", {}).get("ntk", {})
if ntk.get("version") != want:
    errors.append("provides.ntk.version %s, ntk.control says %s" % (ntk.get("version"), want))
if not ntk.get("file") or not os.path.isfile(ntk["file"]):
    errors.append("provides.ntk.file %r is not a file of the tree" % ntk.get("file"))
for v in (m.get("version"), ntk.get("version")):
    if not semver.match(str(v)):
        errors.append("%r is not a semantic version" % v)
req = m.get("prereqs", {}).get("runtime", {}).get("requires", {})
if not semver.match(str(req.get("PostgreSQL", ""))):
    errors.append("prereqs.runtime.requires.PostgreSQL missing or not a semantic version")
for e in errors:
    print("META.json: " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY
echo "META.json: ok (version $CONTROL_VERSION)"

# --- 2. build from a clean copy -------------------------------------------
ntk_install_deps debhelper postgresql-server-dev-all || fail "could not install the build dependencies"
mkdir "$WORK/ntk"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$ROOT" ls-files -z -c -o --exclude-standard \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar -c --null -T - -f - | tar -x -C "$WORK/ntk" || fail "could not copy the tree"
else
    cp -a . "$WORK/ntk" || fail "could not copy the tree"   # dh_auto_clean runs make clean
fi
echo "building $PKG $DEB_VERSION in $WORK/ntk"
# the regression suite runs below against the real install: not twice
if ! (cd "$WORK/ntk" && DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" \
        dpkg-buildpackage -us -uc -b) >"$WORK/build.log" 2>&1; then
    tail -50 "$WORK/build.log"
    fail "dpkg-buildpackage failed (log: $WORK/build.log)"
fi
DEB=$WORK/${PKG}_${DEB_VERSION}_amd64.deb
[ -f "$DEB" ] || { ls "$WORK"; fail "no $(basename "$DEB")"; }
echo "built $(basename "$DEB")"

# --- 3. the package's dependencies and contents ---------------------------
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
echo "Depends: $DEPENDS"
for dep in postgresql-15 libopenblas0 liblapacke; do
    echo ", $DEPENDS," | grep -Eq "[ ,|]$dep( |,|\\|)" || fail "Depends lacks $dep"
done
CONTENTS=$(dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\.||')
for f in "$LIBDIR/ntk.so" "$EXTDIR/ntk.control" "$EXTDIR/ntk--$CONTROL_VERSION.sql"; do
    echo "$CONTENTS" | grep -qx "$f" || fail "the package lacks $f"
done
# every install script of the tree, wherever the tree keeps them
nscripts=0
for s in $(cd "$WORK/ntk" && find . -path ./debian -prune -o -name 'ntk--*.sql' -print); do
    echo "$CONTENTS" | grep -qx "$EXTDIR/$(basename "$s")" || fail "the package lacks $(basename "$s") (the tree has $s)"
    nscripts=$((nscripts + 1))
done
[ $nscripts -gt 0 ] || fail "no ntk--*.sql in the tree"
echo "the package ships ntk.so and the $nscripts install scripts of the tree"

# --- 4. install the package alone and run the regression suite -------------
installed_files > "$WORK/make-installed.list"
if [ -s "$WORK/make-installed.list" ]; then
    installed_sums > "$WORK/make-installed.md5"
    tar -c -P -f "$SAVED" -T "$WORK/make-installed.list" || fail "could not save the make-installed files"
    xargs -d '\n' rm -rf < "$WORK/make-installed.list"
    echo "moved aside: $(wc -l < "$WORK/make-installed.list") make-installed paths"
fi
[ -z "$(installed_files)" ] || fail "the make-installed extension is still there"

(cd "$WORK" && apt-get install -y -q "./$(basename "$DEB")") >"$WORK/apt.log" 2>&1 \
    || { cat "$WORK/apt.log"; fail "apt-get install failed"; }
echo "installed $(dpkg-query -W -f='${Package} ${Version}' $PKG)"
for f in $(installed_files); do
    [ -d "$f" ] && continue
    dpkg -S "$f" 2>/dev/null | grep -q "^$PKG:" || fail "$f does not belong to $PKG"
done
if ldd "$LIBDIR/ntk.so" | grep -q "not found"; then
    ldd "$LIBDIR/ntk.so"; fail "ntk.so has unresolved libraries"
fi

cluster_start || fail "could not start a cluster"
trap restore EXIT   # cluster_start set its own
chmod -R a+rwX "$WORK/ntk"   # pg_regress writes results/ as the cluster owner
cd "$WORK/ntk" || fail "no $WORK/ntk"
if ! $CLUSTER_RUN make -s installcheck PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER"; then
    [ -f regression.diffs ] && head -200 regression.diffs
    fail "regression suite against the package"
fi
got=$(psql -X -At -d contrib_regression -c "SELECT extversion FROM pg_extension WHERE extname = 'ntk'")
[ "$got" = "$CONTROL_VERSION" ] || fail "CREATE EXTENSION ntk gave version '$got', not $CONTROL_VERSION"
cd "$ROOT" || fail "no $ROOT"
cluster_stop

# --- 5. remove the package (restore puts the make-installed files back) ----
apt-get purge -y -q $PKG >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log"; fail "apt-get purge failed"; }
[ ! -e "$LIBDIR/ntk.so" ] || fail "purging $PKG left $LIBDIR/ntk.so"
