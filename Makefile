# Two commands on a fresh Debian 12 machine, as root: `make demo` and `make test`.
# Each does its own set-up first (scripts/bootstrap.sh: Debian packages, venvs, cached rootfs).
.PHONY: help test demo bootstrap lint unit molecule figures pi1-figures fleet-timing clean versions release

help:
	@echo "make demo       boot a throwaway Pi, provision it against a fake Cloudflare, watch the timer"
	@echo "make test       every test: lint, unit tests, every Molecule scenario on bookworm and trixie"
	@echo "make lint | unit | molecule   one group of make test"
	@echo "make versions   updater tests on Python 3.13, the role on ansible-core 2.14 and 2.21"
	@echo "make figures    measure converge, idempotence, IP-change latency, exposure"
	@echo "make pi1-figures  the cost table: pi-ddns vs ddclient, emulated Pi 1 (arm1176) and native"
	@echo "make fleet-timing the fleet table: 1, 4 and 8 stand-in Pis, first converge and rerun (FLEET=\"1 4 8 12\")"
	@echo "make release    the collection's tarball, dist/pi_ddns-appliance-VERSION.tar.gz (reproducible; prints sha256)"
	@echo "make bootstrap  only the set-up"
	@echo "make clean      remove the test, demo and figures instances (and dead ones)"

test:
	scripts/test.sh

demo:
	scripts/demo.sh

bootstrap:
	scripts/bootstrap.sh

lint unit molecule:
	scripts/test.sh $@

versions:
	scripts/py-matrix.sh && scripts/controller-matrix.sh

figures:
	scripts/measure.sh

pi1-figures:
	scripts/pi1.sh bench

fleet-timing:
	scripts/fleet-timing.sh $(FLEET)

# The collection's release tarball, with the updater's wheels (docs/collection.md: cut a release).
release:
	scripts/release.sh dist

# The Molecule matrix's instances (scripts/test.sh: SCENARIOS x SUITES), the figures' and the demo's.
SCENARIOS := default reprovision check absent preflight
SUITES := bookworm trixie
INSTANCES := $(foreach s,$(SCENARIOS),$(foreach v,$(SUITES),$(s)-$(v))) collection-trixie ddns-measure ddns-demo $(foreach i,$(shell seq 1 12),fleet-$(i))

clean:
	scripts/pi-nspawn.sh sweep $(INSTANCES)
