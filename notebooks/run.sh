#!/usr/bin/env bash
# Executes notebooks headless and writes each, with its outputs, as HTML into OUTPUT_DIR:
#
#   notebooks/run.sh OUTPUT_DIR NOTEBOOK.ipynb...
#
# Installs what they need first (setup.sh). They run on Debian's interpreter through a kernel
# defined here, so neither another python3 on PATH nor a user's own "python3" kernel is used.
# A cell running longer than NOTEBOOK_CELL_TIMEOUT seconds (default 600) fails the run. The
# notebooks read their inputs from SLATESTREAM_* variables (notebooks/README.md).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 OUTPUT_DIR NOTEBOOK.ipynb..." >&2
  exit 2
fi
"$(dirname "$0")/setup.sh"
out=$1
shift
mkdir -p "$out"

jupyter=$(mktemp -d "${TMPDIR:-/tmp}/slatestream-notebooks.XXXXXX")
trap 'rm -rf "$jupyter"' EXIT
mkdir -p "$jupyter/kernels/slatestream-python3"
cat >"$jupyter/kernels/slatestream-python3/kernel.json" <<'EOF'
{
  "argv": ["/usr/bin/python3", "-I", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
  "display_name": "Python 3 (Debian)",
  "language": "python",
  "env": {"PYDEVD_DISABLE_FILE_VALIDATION": "1"}
}
EOF

# -I: Debian's packages only, whatever PYTHONPATH or ~/.local hold.
JUPYTER_PATH="$jupyter" JUPYTER_RUNTIME_DIR="$jupyter/runtime" \
  /usr/bin/python3 -I -m nbconvert --to html --execute --output-dir "$out" \
  --ExecutePreprocessor.kernel_name=slatestream-python3 \
  --ExecutePreprocessor.timeout="${NOTEBOOK_CELL_TIMEOUT:-600}" \
  "$@"
