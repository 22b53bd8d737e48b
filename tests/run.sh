#!/bin/sh
# Runs every test program (or sh script) given, then prints the sum of their "N passed, M failed" lines.
# Exits non-zero if any check failed or any program crashed.
passed=0; failed=0; crashed=0
for t in "$@"; do
    case "$t" in
        *.sh) out=$(sh "$t" 2>&1); rc=$? ;;
        *) out=$("$t" 2>&1); rc=$? ;;
    esac
    printf '%s\n' "$out" | grep -E '^(FAIL|SKIP)' || true
    line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -z "$line" ] || [ $rc -gt 1 ]; then
        echo "CRASH $t (exit $rc)"; printf '%s\n' "$out" | tail -n 5; crashed=$((crashed + 1))
        continue
    fi
    echo "$line"
    p=$(echo "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    passed=$((passed + p)); failed=$((failed + f))
done
failed=$((failed + crashed))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
