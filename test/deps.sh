# test/deps.sh: installs what building and testing ntk needs on Debian/Ubuntu.
# Source it and call ntk_install_deps [extra packages...].  Idempotent.

NTK_DEPS="postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
libtap-parser-sourcehandler-pgtap-perl libopenblas-dev liblapacke-dev
python3-numpy python3-scipy python3-psycopg2 python3-mpmath python3-sklearn gcc make"

ntk_install_deps() {
    local want="$NTK_DEPS $*" missing="" p
    for p in $want; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "installing:$missing"
    $sudo apt-get update -q >/dev/null || return 1
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing >/dev/null || return 1
}
