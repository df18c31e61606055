#!/usr/bin/env bash
# Installs the Debian packages the notebooks need, and only those that are missing: silent and
# instant when everything is present (no apt-get update then). Exits non-zero with the reason when
# it cannot install them. The notebooks run on Debian's interpreter, /usr/bin/python3, never on
# another python3 that may come first on PATH (pyenv, conda, a virtualenv).
set -euo pipefail

PACKAGES=(
  python3             # /usr/bin/python3, the interpreter of the kernel
  python3-pandas      # tables
  python3-matplotlib  # plots
  python3-nbformat    # reads the .ipynb files
  python3-nbconvert   # executes them headless, writes HTML
  python3-ipykernel   # the Python kernel they execute in
  python3-avro        # reads the Avro container files of training examples
)

fail() {
  echo "notebooks/setup.sh: $*" >&2
  exit 1
}

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 ||
    fail "needs the Debian packages ${missing[*]}, and there is no apt-get here (the notebooks need Debian or Ubuntu)"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      fail "needs the Debian packages ${missing[*]}; install them as root: apt-get install --no-install-recommends ${missing[*]}"
    fi
  fi
  log=$(mktemp "${TMPDIR:-/tmp}/slatestream-notebooks-setup.XXXXXX")
  trap 'rm -f "$log"' EXIT
  apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300)
  echo "notebooks/setup.sh: installing ${missing[*]}" >&2
  # The package lists on hand first; refreshed only when they are too old to have the packages.
  if ! "${apt[@]}" install --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
    if ! { "${apt[@]}" update && "${apt[@]}" install --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
      tail -n 20 "$log" >&2
      fail "apt-get could not install ${missing[*]} (output above)"
    fi
  fi
fi

/usr/bin/python3 -c 'import avro.datafile, ipykernel, matplotlib, nbconvert, nbformat, pandas' 2>/dev/null ||
  fail "the packages are installed but /usr/bin/python3 cannot import them; reinstall with: apt-get install --reinstall ${PACKAGES[*]}"
