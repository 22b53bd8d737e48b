#!/bin/sh
# test_install.sh — `make install PREFIX=...` from a copy of the sources, the copy deleted, then
# the installed rnnrep makes an MNIST zoo from another directory: it finds the digits under
# PREFIX/share/rnnrep and records that directory in args.json. With those digits gone, the
# error names every place looked and --mnist-dir, and nothing is made. The source tree's
# ./rnnrep finds the digits beside its sources from anywhere. Prints "N passed, M failed".
root=$(pwd)
tmp=${TMPDIR:-/tmp}/rnnrep-install-test.$$
passed=0
failed=0
check() { # check DESCRIPTION COMMAND...: passes when the command succeeds
    what=$1
    shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL test_install.sh: $what"; fi
}
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src" "$tmp/elsewhere" || exit 2
cp -R Makefile rnnrep.h rnnrep.c autograd.c models zoo "$tmp/src/" || exit 2

# a build of its own (the caller's make options, such as make debug's, stay out of it)
(cd "$tmp/src" && MAKEFLAGS= MAKELEVEL= make -s OPT=-O1 PREFIX="$tmp/inst" install) >"$tmp/build.log" 2>&1
check "make install PREFIX=$tmp/inst: $(tail -n 3 "$tmp/build.log")" \
    test -x "$tmp/inst/bin/rnnrep" -a -f "$tmp/inst/share/rnnrep/mnist10k/images-idx3-ubyte"
rm -rf "$tmp/src"

opts="--runs 1 --steps 8 --snapshots 0,1,2,3,4,5,6,7,8 --batch 4 --stored 5 --eval-batches 1 --eval-batch 20"
cd "$tmp/elsewhere" || exit 2
"$tmp/inst/bin/rnnrep" zoo mnist $opts --out mz 2>err.txt
rc=$?
check "the installed rnnrep makes an MNIST zoo elsewhere (exit $rc: $(tail -n 1 err.txt))" test $rc -eq 0 -a -f mz/parameters.npy
check "args.json records the installed digits" grep -q "\"mnist_dir\": \"$tmp/inst/share/rnnrep/mnist10k\"" mz/args.json

rm -rf "$tmp/inst/share/rnnrep/mnist10k"
"$tmp/inst/bin/rnnrep" zoo mnist $opts --out mz2 2>err.txt
rc=$?
check "without the digits: exit 1 (got $rc)" test $rc -eq 1
check "the error names the installed place: $(cat err.txt)" grep -q "$tmp/inst/share/rnnrep/mnist10k" err.txt
check "the error names the source tree" grep -q "$tmp/src/zoo/data/mnist10k" err.txt
check "the error names --mnist-dir" grep -q -e "--mnist-dir" err.txt
check "nothing is made" test ! -e mz2
"$tmp/inst/bin/rnnrep" zoo mnist $opts --jobs 2 --out mz3 2>err.txt
rc=$?
check "--jobs without the digits: exit 1 at once, nothing made (got $rc: $(cat err.txt))" \
    test $rc -eq 1 -a ! -e mz3 -a "$(grep -c -e --mnist-dir err.txt)" -eq 1

# The source tree's program, run from here, finds the digits beside its sources: the run
# gets past loading them and stops only at the output directory (a regular file is in the way).
touch in-the-way
"$root/rnnrep" zoo mnist $opts --out in-the-way/mz 2>err.txt
rc=$?
check "the source tree's rnnrep finds its digits from elsewhere (exit $rc: $(cat err.txt))" \
    grep -q "in-the-way/mz: cannot create directory" err.txt

echo "test_install.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
