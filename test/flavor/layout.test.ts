import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { companionLayout, DAEMONS, layout, loadFlavor, relocate } from '../../src/flavor';

// The PEP 350 rule, for each daemon: [system name, run base, socket name, config name, first program].
const NAMES = {
  pen: ['pen', 'pen', 'pen.sock', 'pen.conf', 'pen'],
  depot: ['depot', 'depot', 'depot.sock', 'depot.conf', 'depot'],
  init: ['isinit', 'init', 'init.s', 'isinittab', 'isinit'],
} as const;

describe('layout of the default flavor tog: the plain system layout', () => {
  for (const daemon of DAEMONS) {
    it(daemon, () => {
      const [sys, base, socket, config, program] = NAMES[daemon];
      const l = layout(loadFlavor('tog'), daemon);
      assert.equal(l.packageName, `tog-${daemon}`);
      assert.equal(l.prefix, '/usr');
      assert.equal(l.programs[program], `/usr/bin/${program}`);
      assert.equal(l.configDir, `/etc/${sys}`);
      assert.equal(l.configFile, `/etc/${sys}/${config}`);
      assert.equal(l.runDir, `/run/tog-${daemon}`);
      assert.equal(l.pidFile, `/run/tog-${daemon}/${base}.pid`);
      assert.equal(l.startLock, `/run/tog-${daemon}/${base}_start.lock`);
      assert.equal(l.controlSocket, `/run/tog-${daemon}/${socket}`);
      assert.equal(l.logIdentity, sys);
      assert.equal(l.logDir, `/var/log/${sys}`);
      assert.equal(l.dataDir, `/var/lib/${sys}`);
      assert.equal(l.pamService, sys);
      assert.equal(l.pamFile, `/etc/pam.d/${sys}`);
      assert.equal(l.initScript, `/etc/init.d/tog-${daemon}`);
      assert.equal(l.etcdPrefix, `/flavorkit/tog/${sys}/`);
      assert.equal(l.isDefault, true);
    });
  }
});

describe('layout of flavor abc: under /usr/local/abc-<daemon>, system-wide names suffixed', () => {
  for (const daemon of DAEMONS) {
    it(daemon, () => {
      const [sys, base, socket, config, program] = NAMES[daemon];
      const l = layout(loadFlavor('abc'), daemon);
      const prefix = `/usr/local/abc-${daemon}`;
      assert.equal(l.packageName, `abc-${daemon}`);
      assert.equal(l.prefix, prefix);
      assert.equal(l.programs[program], `${prefix}/bin/${program}`);
      assert.equal(l.configFile, `${prefix}/etc/${sys}/${config}`);
      assert.equal(l.runDir, `${prefix}/var/run/abc-${daemon}`);
      assert.equal(l.pidFile, `${prefix}/var/run/abc-${daemon}/${base}.pid`);
      assert.equal(l.startLock, `${prefix}/var/run/abc-${daemon}/${base}_start.lock`);
      assert.equal(l.controlSocket, `${prefix}/var/run/abc-${daemon}/${socket}`);
      assert.equal(l.logIdentity, `${sys}abc`);
      assert.equal(l.logDir, `${prefix}/var/log`);
      assert.equal(l.dataDir, `${prefix}/var/lib`);
      assert.equal(l.pamFile, `/etc/pam.d/${sys}abc`);
      assert.equal(l.initScript, `/etc/init.d/abc-${daemon}`);
      assert.equal(l.etcdPrefix, `/flavorkit/abc/${sys}/`);
      assert.equal(l.isDefault, false);
    });
  }
});

describe('ports', () => {
  it('come from the flavor files and differ between tog and abc', () => {
    assert.deepEqual(layout(loadFlavor('tog'), 'pen').ports, { service: 8080, control: 8081, metrics: 8082 });
    assert.deepEqual(layout(loadFlavor('abc'), 'pen').ports, { service: 8180, control: 8181, metrics: 8182 });
    assert.deepEqual(layout(loadFlavor('abc'), 'depot').ports, { service: 10180 });
  });

  it('are derived from the name for a flavor without a file, stable and distinct', () => {
    const a = loadFlavor('xyz');
    assert.deepEqual(loadFlavor('xyz').ports, a.ports);
    const pen = a.ports.pen;
    assert.ok(pen.service! >= 20000 && pen.service! < 40000);
    assert.equal(pen.control, pen.service! + 1);
    assert.equal(a.ports.depot.service, pen.service! + 2);
    assert.notDeepEqual(loadFlavor('qrs').ports.pen, pen);
  });
});

describe('the vendor flavor acme', () => {
  it('ships pen only, with TLS and UDP compiled out', () => {
    const acme = loadFlavor('acme');
    assert.deepEqual(acme.daemons, ['pen']);
    assert.deepEqual(layout(acme, 'pen').features, { tls: false, udp: false });
    assert.throws(() => layout(acme, 'depot'), /flavor "acme" does not ship depot/);
  });
});

describe('penlogd, a daemon of its own in the pen package', () => {
  it('has its own start lock, PID file, console log and log identity, none of them pen\'s', () => {
    for (const [name, suffix] of [['tog', ''], ['abc', 'abc']] as const) {
      const pen = layout(loadFlavor(name), 'pen');
      const penlogd = companionLayout(pen, 'penlogd');
      assert.equal(penlogd.pidFile, `${pen.runDir}/penlogd.pid`);
      assert.equal(penlogd.startLock, `${pen.runDir}/penlogd_start.lock`);
      assert.equal(penlogd.consoleLog, `${pen.logDir}/penlogd.console`);
      assert.equal(penlogd.logIdentity, `penlogd${suffix}`);
      for (const key of ['pidFile', 'startLock', 'consoleLog', 'logIdentity'] as const) assert.notEqual(penlogd[key], pen[key], key);
      if (!pen.isDefault) assert.equal(companionLayout(relocate(pen, '/opt/x'), 'penlogd').pidFile, '/opt/x/var/run/abc-pen/penlogd.pid', 'relocated with pen');
    }
  });
});

describe('relocation', () => {
  it('moves prefix-relative paths and leaves PAM file and init script in place', () => {
    const l = relocate(layout(loadFlavor('abc'), 'pen'), '/opt/x');
    assert.equal(l.programs.pen, '/opt/x/bin/pen');
    assert.equal(l.pidFile, '/opt/x/var/run/abc-pen/pen.pid');
    assert.equal(l.pamFile, '/etc/pam.d/penabc');
    assert.equal(l.initScript, '/etc/init.d/abc-pen');
  });
});
