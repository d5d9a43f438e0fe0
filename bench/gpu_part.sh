# Sourced by the bench/gpu_*.sh scripts: `part NAME SECONDS ARGS...` runs bench/stages_direct.py
# ARGS on a fresh copy of params.yaml, bounded to SECONDS, its last 40 lines in $out/NAME.md.
# The caller sets `out` and runs in a throwaway copy of the checkout (params.yaml is spoilt).
export PYTHONUNBUFFERED=1
cp params.yaml /tmp/params.yaml.orig
part() {
    local name=$1 limit=$2; shift 2
    cp /tmp/params.yaml.orig params.yaml
    echo "== $name (limit ${limit} s)"
    timeout "$limit" python3 bench/stages_direct.py "$@" 2>&1 | grep -v '^\s*[0-9]*%|' \
        | tail -n 40 | tee "$out/$name.md"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
