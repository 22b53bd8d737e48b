# rnnrep — plain C99, libc and libm only.
#   make            the rnnrep program and librnnrep.a (tuned for this machine)
#   make PORTABLE=1 generic code (no -march=native)
#   make OPENMP=0   without threads: libc and libm only (the default adds -fopenmp where the
#                   compiler has it); give it its own BUILD, e.g. BUILD=build/noomp
#   make test       every test program, in double and in float; ends with "N passed, M failed"
#   make debug      the tests again under -fsanitize=address,undefined
#   make bench      ./rnnrep bench
#   make bench-torch  the zoo steps in rnnrep and in PyTorch (tools/bench_torch.py), one thread,
#                   in the same run; needs /usr/bin/python3 with torch (Debian's python3-torch)
#   make fuzz       the libFuzzer harnesses of tests/fuzz/ (clang), each run FUZZ_SECONDS (60) in
#                   turn on a copy of its seed corpus: make fuzz FUZZ_SECONDS=600
#   make install PREFIX=/usr/local   (the program, library, header and the MNIST digits)
CC      ?= cc
PREFIX  ?= /usr/local
BUILD   ?= build
WARN    := -std=c99 -pedantic -Wall -Wextra -Wshadow
OPT     ?= -O3
SAN     ?=
ifeq ($(PORTABLE),1)
ARCH    :=
else
ARCH    := $(shell $(CC) -march=native -x c -c /dev/null -o /dev/null 2>/dev/null && echo -march=native)
endif
ifeq ($(OPENMP),0)
OPENMP_FLAGS :=
else
OPENMP_FLAGS := $(shell printf '\043include <omp.h>\n' | $(CC) -fopenmp -x c -c - -o /dev/null 2>/dev/null && echo -fopenmp)
endif
ALL_CFLAGS := $(WARN) $(OPT) $(ARCH) $(OPENMP_FLAGS) $(SAN) -I. -MMD -MP $(CFLAGS)
LDLIBS  := -lm

# Where the program looks for the vendored MNIST digits (zoo/mnist.c): where `make install`
# puts them, then this source tree. Fixed at build time; another PREFIX rebuilds zoo/mnist.c.
DATADIR  := $(PREFIX)/share/rnnrep
PATHS    := -DRNNREP_DATADIR='"$(DATADIR)"' -DRNNREP_SOURCEDIR='"$(CURDIR)"'

LIB_SRC  := autograd.c $(wildcard models/*.c) $(wildcard zoo/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_SH  := $(wildcard tests/test_*.sh)
OBJ32    := $(LIB_SRC:%.c=$(BUILD)/f32/%.o)
OBJ64    := $(LIB_SRC:%.c=$(BUILD)/f64/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%) $(TEST_SRC:tests/%.c=$(BUILD)/tests/%_f32)

.PHONY: all test debug bench bench-torch fuzz install clean FORCE
.SECONDARY:
all: rnnrep librnnrep.a

$(BUILD)/f32/%.o: %.c $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@
$(BUILD)/f64/%.o: %.c $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DRNNREP_DOUBLE -c $< -o $@

# Objects depend on the flags they were compiled with ($(BUILD)/flags changes when they do);
# ./rnnrep and ./librnnrep.a, shared by every BUILD, on the BUILD and flags of their last
# link (build/linked): changing OPENMP, PORTABLE, OPT or BUILD rebuilds what it must.
$(BUILD)/flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(ALL_CFLAGS)' | cmp -s - $@ || echo '$(ALL_CFLAGS)' > $@
build/linked: FORCE
	@mkdir -p build
	@echo '$(BUILD) $(ALL_CFLAGS)' | cmp -s - $@ || echo '$(BUILD) $(ALL_CFLAGS)' > $@

$(BUILD)/f32/zoo/mnist.o $(BUILD)/f64/zoo/mnist.o: ALL_CFLAGS += $(PATHS)
$(BUILD)/f32/zoo/mnist.o $(BUILD)/f64/zoo/mnist.o: $(BUILD)/paths
$(BUILD)/paths: FORCE
	@mkdir -p $(BUILD)
	@echo '$(DATADIR) $(CURDIR)' | cmp -s - $@ || echo '$(DATADIR) $(CURDIR)' > $@

librnnrep.a: $(OBJ32) build/linked
	rm -f $@ && $(AR) rcs $@ $(OBJ32)
$(BUILD)/librnnrep.a: $(OBJ32) build/linked
	rm -f $@ && $(AR) rcs $@ $(OBJ32)
$(BUILD)/librnnrep64.a: $(OBJ64)
	rm -f $@ && $(AR) rcs $@ $^

rnnrep: $(BUILD)/f32/rnnrep.o $(BUILD)/librnnrep.a build/linked
	$(CC) $(ALL_CFLAGS) $(filter-out build/linked,$^) $(LDLIBS) -o $@

# Each test program is built twice: against the double library (where the finite-difference
# checks run) and against the float library that the program ships with.
$(BUILD)/tests/%: $(BUILD)/f64/tests/%.o $(BUILD)/librnnrep64.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/tests/%_f32: $(BUILD)/f32/tests/%.o $(BUILD)/librnnrep.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

test: $(TESTS) rnnrep
	@sh tests/run.sh $(TESTS) $(TEST_SH)

# The tests run ./rnnrep sanitized too; it is removed afterwards so that the next `make`
# links the optimised program again.
debug:
	rm -f rnnrep
	$(MAKE) BUILD=build/debug OPT="-O1 -g" SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" test; \
	status=$$?; rm -f rnnrep; exit $$status

bench: rnnrep
	./rnnrep bench

bench-torch: rnnrep
	./rnnrep bench --threads 1 zoo-step
	/usr/bin/python3 tools/bench_torch.py

# The library again with clang's coverage instrumentation and sanitizers (in build/fuzz, as
# debug builds in build/debug), one program per harness, then each harness in turn. New inputs
# collect in build/fuzz/corpus/<harness> (the committed seeds are only copied), a crashing
# input lands in build/fuzz/crashes/<harness>/ and stops make; keep it in
# tests/fuzz/regressions/<harness>/ once the reader is fixed. An allocation over 64 MB from
# inputs of a few kilobytes counts as a crash.
FUZZ_CC        ?= clang
FUZZ_SECONDS   ?= 60
FUZZ_SAN       := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_HARNESSES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
fuzz:
	$(MAKE) BUILD=build/fuzz CC=$(FUZZ_CC) OPT="-O1 -g" SAN="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" build/fuzz/librnnrep.a
	@for h in $(FUZZ_HARNESSES); do \
	    echo "$(FUZZ_CC) ... tests/fuzz/fuzz_$$h.c -o build/fuzz/fuzz_$$h"; \
	    $(FUZZ_CC) $(WARN) -O1 -g -fsanitize=fuzzer $(FUZZ_SAN) -DRNNREP_LIBFUZZER -I. tests/fuzz/fuzz_$$h.c \
	        build/fuzz/librnnrep.a $(LDLIBS) -o build/fuzz/fuzz_$$h || exit 1; \
	done
	@for h in $(FUZZ_HARNESSES); do \
	    mkdir -p build/fuzz/corpus/$$h build/fuzz/crashes/$$h && cp tests/fuzz/corpus/$$h/* build/fuzz/corpus/$$h/; \
	    regressions=; [ -d tests/fuzz/regressions/$$h ] && regressions=tests/fuzz/regressions/$$h; \
	    echo "fuzz $$h: $(FUZZ_SECONDS) s (log build/fuzz/$$h.log)"; \
	    build/fuzz/fuzz_$$h -max_total_time=$(FUZZ_SECONDS) -timeout=10 -malloc_limit_mb=64 -print_final_stats=1 \
	        -artifact_prefix=build/fuzz/crashes/$$h/ build/fuzz/corpus/$$h $$regressions > build/fuzz/$$h.log 2>&1; \
	    status=$$?; grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' build/fuzz/$$h.log; \
	    if [ $$status -ne 0 ]; then tail -n 40 build/fuzz/$$h.log; exit $$status; fi; \
	done

install: rnnrep librnnrep.a
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(DATADIR)/mnist10k
	cp rnnrep $(DESTDIR)$(PREFIX)/bin/
	cp librnnrep.a $(DESTDIR)$(PREFIX)/lib/
	cp rnnrep.h $(DESTDIR)$(PREFIX)/include/
	cp zoo/data/mnist10k/* $(DESTDIR)$(DATADIR)/mnist10k/

clean:
	rm -rf build rnnrep librnnrep.a

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
