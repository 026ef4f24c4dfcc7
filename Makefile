# aifs front door: make, make check, make check-asan, make install, make deps.
BUILD      ?= build
ASAN_BUILD ?= build-asan
PREFIX     ?= /usr/local
MESON      ?= meson
# mount(8) looks for mount.fuse.aifs in /sbin; a user's install keeps it in PREFIX/sbin.
MOUNT_HELPER_DIR ?= $(if $(filter 0,$(shell id -u)),/sbin,$(PREFIX)/sbin)

DEB_PKGS = meson ninja-build pkg-config gcc libfuse3-dev fuse3 librocksdb-dev \
           liburing-dev liblz4-dev libssl-dev libjansson-dev check python3 attr groff-base man-db \
           python3-torch python3-cryptography acl $(DEB_PKGS_NORECS)
# Installed without their recommends (the Ceph test cluster and librados).
DEB_PKGS_NORECS = ceph-mon ceph-osd ceph-common librados-dev

.PHONY: all deps check check-asan install uninstall clean bench demo

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD) --prefix=$(PREFIX) -Dmount_helper_dir=$(MOUNT_HELPER_DIR)

# Install whatever Debian packages are missing (needs root and apt).
deps:
	@missing=""; norecs=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' && continue; \
	  case " $(DEB_PKGS_NORECS) " in *" $$p "*) norecs="$$norecs $$p";; *) missing="$$missing $$p";; esac; \
	done; \
	if [ -n "$$missing$$norecs" ]; then \
	  echo "installing:$$missing$$norecs"; \
	  { apt-get update -qq && \
	    { [ -z "$$missing" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } && \
	    { [ -z "$$norecs" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        --no-install-recommends $$norecs >/dev/null; }; } \
	    || { echo "apt-get failed; install:$$missing$$norecs" >&2; exit 1; }; \
	fi

check: deps all
	@bash test/run.sh $(BUILD)

# Optimized (-O2 -g), as ASan advises for speed, with the lock watchdog's
# abort of a debug build; a build-asan/ made before with other options follows.
ASAN_OPTS = -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized \
            -Dlock_abort=60

$(ASAN_BUILD)/build.ninja:
	$(MESON) setup $(ASAN_BUILD) $(ASAN_OPTS)

check-asan: deps $(ASAN_BUILD)/build.ninja
	$(MESON) configure $(ASAN_BUILD) $(ASAN_OPTS) >/dev/null
	ninja -C $(ASAN_BUILD)
	@ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  bash test/run.sh $(ASAN_BUILD)

# A tour of the lifecycle on a store under ./demo/: dataset snapshot, training
# with checkpoint versions, restore, journaled inference, verify.
demo: deps
	@$(MAKE) --no-print-directory all
	@bash test/demo.sh $(BUILD)

install: all
	$(MESON) install -C $(BUILD)

# Remove what `make install` put in place (meson's install log of $(BUILD)).
uninstall:
	@test -f $(BUILD)/meson-logs/install-log.txt || { echo "nothing installed from $(BUILD)" >&2; exit 1; }
	ninja -C $(BUILD) uninstall

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# Benchmark aifs against a native directory on the same disk (test/bench/bench.py);
# prints a table and writes bench/results/. Extra flags: make bench BENCH_ARGS=--quick
BENCH_PKGS = fio python3-torch gnuplot-nox
BENCH_ARGS ?=

bench:
	@missing=""; for p in $(BENCH_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } \
	    || { echo "apt-get failed; install:$$missing" >&2; exit 1; }; \
	fi
	@$(MAKE) --no-print-directory all
	/usr/bin/python3 test/bench/bench.py --build $(BUILD) $(BENCH_ARGS)
