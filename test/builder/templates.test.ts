import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { layout, loadFlavor } from '../../src/flavor';
import { BuildError } from '../../src/builder/project';
import { scriptIntents } from '../../src/builder/description';
import { renderScriptlets } from '../../src/builder/rpm';
import { layoutView, renderDaemonFiles, renderStrict, TEMPLATE_DIRS } from '../../src/builder/templates';
import { tempDir } from '../support/process';

// Every shipped flavor, plus one with no file (derived from its name alone).
const FLAVORS = ['tog', 'abc', 'acme', 'xyz'];
const work = tempDir('templates');
after(() => fs.rmSync(work, { recursive: true, force: true }));

function shellCheck(name: string, script: string): void {
  const file = path.join(work, name);
  fs.writeFileSync(file, script);
  // sh -n parses without running; a syntax error exits non-zero with the line.
  execFileSync('sh', ['-n', file], { stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('templates of every flavor', () => {
  for (const name of FLAVORS) {
    const flavor = loadFlavor(name);
    for (const daemon of flavor.daemons) {
      const l = layout(flavor, daemon);
      it(`${l.packageName}: init script, PAM file, configs and scriptlets render and parse`, () => {
        const files = renderDaemonFiles(l);
        const init = files.find((f) => f.kind === 'service');
        assert.ok(init, 'an init script is rendered');
        assert.equal(init.path, l.initScript);
        shellCheck(`${l.packageName}.init`, init.content);
        // The flavored Provides, never the default flavor's name for another flavor.
        assert.match(init.content, new RegExp(`^# Provides: +${l.packageName}$`, 'm'));
        assert.match(init.content, /^### BEGIN INIT INFO$/m);
        assert.match(init.content, /^### END INIT INFO$/m);
        if (!l.isDefault) assert.doesNotMatch(init.content, /\btog\b/, 'no default-flavor name in a flavored script');
        assert.doesNotMatch(init.content, /\bps\b.*\|.*grep/, 'status never greps ps');
        const pam = files.find((f) => f.path === l.pamFile);
        assert.equal(pam?.kind, 'config', 'the PAM file is a config file, kept when edited');
        for (const f of files) {
          assert.doesNotMatch(f.content, /&#x2F;|&amp;|&quot;|&#39;|&lt;|&gt;/, `${f.path} holds no HTML escapes`);
          if (f.kind === 'config' && f !== pam && f.path !== l.logrotateFile) assert.ok(f.path.startsWith(`${l.configDir}/`), `${f.path} goes to ${l.configDir}`);
        }
        const scripts = renderScriptlets({ name: l.packageName, intents: scriptIntents(l) });
        for (const [phase, text] of Object.entries(scripts)) {
          shellCheck(`${l.packageName}.${phase}`, text);
          if (!l.isDefault) assert.doesNotMatch(text, /\btog\b/);
        }
        if (l.relocatable) assert.match(scripts.post, /RPM_INSTALL_PREFIX/);
        else assert.doesNotMatch(scripts.post, /sed -i/);
      });
    }
  }

  it('the init script of one flavor names only its own PID file and program', () => {
    const abc = renderDaemonFiles(layout(loadFlavor('abc'), 'pen')).find((f) => f.kind === 'service')!.content;
    const tog = renderDaemonFiles(layout(loadFlavor('tog'), 'pen')).find((f) => f.kind === 'service')!.content;
    assert.match(abc, /^PIDFILE="\$\{PREFIX\}\/var\/run\/abc-pen\/pen\.pid"$/m);
    assert.match(abc, /^PREFIX=\/usr\/local\/abc-pen$/m);
    assert.match(tog, /^PIDFILE="\/run\/tog-pen\/pen\.pid"$/m);
    assert.match(tog, /^DAEMON="\/usr\/bin\/pen"$/m);
  });
});

describe('scriptlets on a host without chkconfig or update-rc.d', () => {
  for (const name of ['tog', 'abc']) {
    it(`${name}: %pre, %post, %preun and %postun succeed`, () => {
      // The init script path points into the test's directory, so nothing of the host is run.
      const l = { ...layout(loadFlavor(name), 'pen'), initScript: path.join(work, `${name}-initscript`) };
      fs.writeFileSync(l.initScript, '#!/bin/sh\necho "$1" >> "$0.calls"\nexit 1\n', { mode: 0o755 });
      const scripts = renderScriptlets({ name: l.packageName, intents: scriptIntents(l) });
      // rpm passes the number of instances left: 1 on install, 0 on erase.
      const phases: Array<[keyof typeof scripts, string]> = [['pre', '1'], ['post', '1'], ['preun', '0'], ['postun', '0'], ['postun', '1']];
      for (const [phase, arg] of phases) {
        const env = { PATH: '/usr/bin:/bin', ...(l.relocatable ? { RPM_INSTALL_PREFIX: l.prefix } : {}) };
        const r = spawnSync('sh', ['-c', scripts[phase], phase, arg], { env, encoding: 'utf8' });
        assert.equal(r.status, 0, `${phase} ${arg}: ${r.stderr}`);
      }
      // %preun stopped the service and what it supervises on erase; %postun asked for a
      // try-restart after upgrade.
      assert.equal(fs.readFileSync(`${l.initScript}.calls`, 'utf8'), 'stop-all\ntry-restart\n');
    });
  }

  it('%pre refuses a relocation prefix unsafe for the scripts, before anything is installed', () => {
    const l = layout(loadFlavor('abc'), 'pen');
    const scripts = renderScriptlets({ name: l.packageName, intents: scriptIntents(l) });
    for (const bad of ['/opt/a b', '/opt/$(x)', 'relative/dir', '/opt/a|b']) {
      const r = spawnSync('sh', ['-c', scripts.pre, 'pre', '1'], { env: { PATH: '/usr/bin:/bin', RPM_INSTALL_PREFIX: bad }, encoding: 'utf8' });
      assert.equal(r.status, 1, bad);
      assert.match(r.stderr, /abc-pen: --prefix/);
    }
  });
});

describe('strict rendering', () => {
  const view = layoutView(layout(loadFlavor('abc'), 'depot'));

  it('does not HTML-escape paths or shell operators', () => {
    assert.equal(renderStrict('{{pidFile}} && {{{pidFile}}}', view, 't'), `${view.pidFile} && ${view.pidFile}`);
  });

  it('fails on a missing variable, naming it', () => {
    assert.throws(() => renderStrict('x {{{pidFiel}}} y', view, 'the template'), (err: Error) => {
      assert.ok(err instanceof BuildError);
      assert.match(err.message, /the template: undefined template variable pidFiel/);
      return true;
    });
  });

  it('fails on a port the daemon does not have (depot has no control port)', () => {
    assert.throws(() => renderStrict('{{{ports.control}}}', view, 't'), /undefined template variable ports\.control/);
    assert.equal(renderStrict('{{{ports.service}}}', view, 't'), '10180');
  });

  it('fails on a missing section or partial', () => {
    assert.throws(() => renderStrict('{{#nothing}}x{{/nothing}}', view, 't'), /nothing/);
    assert.throws(() => renderStrict('{{> absent}}', view, 't'), /> absent/);
  });

  it('accepts a section on a null value (no user) and renders nothing for it', () => {
    assert.equal(renderStrict('[{{#user}}useradd {{{user}}}{{/user}}]', view, 't'), '[]');
  });

  it('refuses a value unsafe in a shell script before rendering anything', () => {
    const l = { ...layout(loadFlavor('abc'), 'pen') };
    l.pidFile = '/tmp/x$(reboot)';
    assert.throws(() => renderDaemonFiles(l), /pidFile .* unsafe in a shell script/);
    const spaced = { ...layout(loadFlavor('abc'), 'pen'), user: 'a b' };
    assert.throws(() => renderScriptlets({ name: spaced.packageName, intents: scriptIntents(spaced) }), /user .* unsafe/);
  });

  it('fails when a daemon has no start-argument template', () => {
    const dirs = { ...TEMPLATE_DIRS, initd: path.join(work, 'empty-initd') };
    fs.mkdirSync(path.join(dirs.initd, 'start'), { recursive: true });
    fs.copyFileSync(path.join(TEMPLATE_DIRS.initd, 'service.mustache'), path.join(dirs.initd, 'service.mustache'));
    assert.throws(() => renderDaemonFiles(layout(loadFlavor('abc'), 'pen'), dirs), /start\/pen\.mustache is missing/);
  });
});
