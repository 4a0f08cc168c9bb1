# Thin front to the npm scripts: `make FLAVOR=abc` builds a flavor, `make test` runs every test.
FLAVOR ?= tog
FLAVORS ?= tog abc acme

.PHONY: all build rpm test doctor show bench clean

all: build

build:
	FLAVOR=$(FLAVOR) npm run build

# The RPMs are part of every build; the target names what an operator asks for.
rpm: build

test:
	npm test

doctor:
	node bin/flavor doctor $(FLAVORS)

show:
	node bin/flavor show $(FLAVOR)

clean:
	rm -rf dist .tmp
