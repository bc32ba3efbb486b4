// The web console in Debian's Chromium, headless, driven by playwright-core.
// Prints TAP lines (numbered from TAP_START + 1); run.sh starts corrald.
import { createRequire } from 'node:module';

const env = process.env;
const require = createRequire(env.CORRAL_WEB + '/package.json');
const { chromium } = require('playwright-core');
const URL = env.CORRAL_URL, PW = env.CORRAL_PW, SHOTS = env.CORRAL_SHOTS;
const XSS = '<img src=x onerror=alert(1)>';
let n = Number(env.TAP_START || 0);

function ok(cond, what, detail = '') {
  n++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${what}`);
  if (!cond && detail) console.log(`#   ${String(detail).split('\n')[0].slice(0, 300)}`);
  return cond;
}
async function step(what, fn) {
  try { const r = await fn(); ok(r !== false, what); return r; } catch (e) { ok(false, what, e.message); return false; }
}
function skip(what, why) { n++; console.log(`ok ${n} - ${what} # SKIP ${why}`); }
/* Steps that build on each other: after one fails the rest are reported
 * as not run (failures, without each waiting out its timeout); all are
 * skipped when `why` says the host cannot run them. */
async function chain(why, steps) {
  let alive = true;
  for (const [what, fn] of steps) {
    if (why) skip(what, why);
    else if (!alive) ok(false, what, 'not run: an earlier step of this sequence failed');
    else alive = (await step(what, fn)) !== false;
  }
  return !why && alive;
}

const browser = await chromium.launch({ executablePath: env.CHROMIUM, args: ['--no-sandbox'] });
const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
const page = await context.newPage();
const dialogs = [], cspErrors = [], pageErrors = [];
page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text()); });
page.on('pageerror', (e) => pageErrors.push(e.message));
const shot = (name) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
const T = 15000;
// API calls with the page's session (cookie) and its CSRF token.
const api = async (method, path, data) => {
  const csrf = await page.evaluate(() => sessionStorage.getItem('corral.csrf'));
  const r = await page.request.fetch(URL + '/api/v1' + path, { method, data, headers: { 'X-CSRF-Token': csrf ?? '' } });
  return r.status();
};
async function login(user, pw) {
  await page.goto(URL + '/login');
  await page.getByLabel('User').fill(user);
  await page.getByLabel('Password').fill(pw);
  await page.getByLabel('Password').press('Enter');
}
async function nav(label) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
}

try {
  // ---- login -------------------------------------------------------------------
  const resp = await page.goto(URL + '/');
  await step('/ sends an anonymous visitor to /login', async () => {
    await page.waitForURL('**/login', { timeout: T });
    return (await resp.headers())['content-security-policy']?.includes("script-src 'self'");
  });
  await login('admin', 'not-the-password');
  await step('a bad password is refused with a message', async () => {
    await page.getByRole('alert').filter({ hasText: 'Wrong user name or password' }).waitFor({ timeout: T });
    return page.url().endsWith('/login');
  });
  await shot('login-error');
  await login('admin', PW);
  await step('the admin logs in and lands on the dashboard (user and role shown)', async () => {
    await page.waitForURL(URL + '/', { timeout: T });
    await page.locator('header .who', { hasText: 'admin' }).waitFor({ timeout: T });
    return (await page.locator('header .role').textContent()) === 'admin';
  });
  await step('the dashboard shows host figures (CPUs, memory, load) and graphs', async () => {
    await page.locator('[data-fact=cpus]').waitFor({ timeout: T });
    const cpus = await page.locator('[data-fact=cpus]').textContent();
    const mem = await page.locator('[data-fact=memory]').textContent();
    await page.waitForTimeout(3500);    // a second sample for the graphs
    return Number(cpus) > 0 && /used of/.test(mem) && (await page.locator('svg.chart polyline').count()) >= 3;
  });
  await step('the CPU graph measures busy time between two samples (a percentage, not load)', async () => {
    await page.locator('[data-fact=cpu-busy]', { hasText: /CPU busy: \d+ %/ }).waitFor({ timeout: T });
    return true;
  });
  await shot('dashboard');

  // ---- a network -------------------------------------------------------------------
  await nav('Networks');
  await page.locator('[data-action=create-networks]').click();
  await page.getByLabel('Name').fill('web1');
  await page.getByLabel('Subnet').fill('10.215.1.0/24');
  await page.getByLabel('NAT').selectOption('on');
  await page.getByLabel('Description').fill(XSS);
  await page.getByLabel('Subnet').press('Enter');
  await step('the admin creates a network with NAT in a dialog (NAT and DHCP shown on)', async () => {
    await page.getByRole('cell', { name: '10.215.1.0/24' }).waitFor({ timeout: T });
    const row = page.getByRole('row').filter({ hasText: '10.215.1.0/24' });
    return (await row.getByRole('cell', { name: 'on', exact: true }).count()) === 2;
  });
  await shot('networks');

  // ---- a VM image, and a VM booting it --------------------------------------------------
  const haveVmImage = env.CORRAL_KERNEL ? await step('the admin imports a VM image (kernel, initrd, command line) in the Images view', async () => {
    await nav('Images');
    await page.locator('[data-action=create-vm-images]').click();
    const d = page.getByRole('dialog');
    await d.getByLabel('Name').fill('shell');
    await d.getByLabel('Kernel on the host').fill(env.CORRAL_KERNEL);
    await d.getByLabel('Initrd on the host').fill(env.CORRAL_INITRD);
    await d.getByLabel('Command line').fill('console=ttyS0 quiet');
    await d.getByRole('button', { name: 'Import', exact: true }).click();
    await page.locator('[data-image=shell]').waitFor({ timeout: 60000 });
    await d.waitFor({ state: 'detached', timeout: T });
    return (await page.getByRole('cell', { name: /^bzImage / }).count()) === 1;
  }) : (skip('the admin imports a VM image', 'no kernel/qemu'), false);
  await nav('VMs');
  await page.locator('[data-action=create-vm]').click();
  await page.getByLabel('Name', { exact: true }).fill('Bad_Name');
  await page.getByRole('dialog').getByRole('button', { name: 'Create', exact: true }).click();
  await step('the create dialog refuses a bad name before sending it', () =>
    page.getByRole('dialog').getByRole('alert').filter({ hasText: 'must match' }).waitFor({ timeout: T }).then(() => true));
  await page.getByLabel('Name', { exact: true }).fill('vm1');
  await page.getByLabel('Description').fill(XSS);
  await page.getByLabel('Memory').fill('256M');
  await page.getByLabel('Engine').selectOption('qemu');
  await step('the admin\'s VM create dialog offers boot from host paths', async () =>
    (await page.getByLabel('Boot from').locator('option[value=kernel]').count()) === 1);
  if (haveVmImage) {
    await page.getByLabel('Boot from').selectOption('image');
    await page.getByRole('dialog').getByLabel('Image').selectOption('shell');
  } else {
    await page.getByLabel('Boot from').selectOption('kernel');
    await page.getByLabel('Kernel').fill('/boot/nonexistent');
    await page.getByLabel('Command line').fill('console=ttyS0 quiet');
  }
  await page.getByLabel('Networks').selectOption('web1');
  await shot('vm-create');
  await page.getByRole('dialog').getByRole('button', { name: 'Create', exact: true }).click();
  const haveVm = haveVmImage ? await step('the admin creates a VM booting that image (stopped)', async () => {
    await page.locator('[data-vm-state=vm1]', { hasText: 'stopped' }).waitFor({ timeout: T });
    return true;
  }) : (skip('the admin creates a VM', 'no kernel/qemu'), false);
  if (!haveVmImage) await page.keyboard.press('Escape');
  await step(`the XSS description renders as text, no alert (${XSS})`, async () => {
    if (haveVm) await page.locator('.desc', { hasText: XSS }).first().waitFor({ timeout: T });
    return (await page.locator('img[src=x]').count()) === 0 && dialogs.length === 0;
  });
  if (haveVm) {
    await step('the admin edits the stopped VM in its detail page (vCPUs 1 -> 2, with If-Match)', async () => {
      await page.getByRole('link', { name: 'vm1' }).click();
      await page.locator('[data-action=edit]').click();
      await page.getByRole('dialog').getByLabel('vCPUs').fill('2');
      await shot('vm-edit');
      await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
      await page.getByRole('dialog').waitFor({ state: 'detached', timeout: T });
      await page.locator('.facts dt', { hasText: 'vCPUs' }).locator('xpath=following-sibling::dd[1]').filter({ hasText: /^2$/ }).waitFor({ timeout: T });
      return true;
    });
    await nav('VMs');
  } else skip('VM edit', 'no VM');
  await page.evaluate(() => { window.__noReload = 1; });
  if (haveVm) {
    // Started behind the page's back: the change can only arrive by the event stream.
    await step('starting the VM (API) shows up live in the list, without a reload', async () => {
      const s = await api('POST', '/vms/vm1/start', {});
      await page.locator('[data-vm-state=vm1]', { hasText: 'running' }).waitFor({ timeout: 60000 });
      return s === 202 && (await page.evaluate(() => window.__noReload)) === 1;
    });
    await shot('vms');
    await page.getByRole('link', { name: 'vm1' }).click();
    await page.locator('[data-action=console]').click();
    await step('the console (xterm.js over the WebSocket) answers a typed command: CORRAL-42', async () => {
      const rows = page.locator('.xterm-rows');
      await rows.waitFor({ timeout: T });
      await page.locator('[data-terminal]').click();
      const deadline = Date.now() + 90000;
      while (Date.now() < deadline) {
        await page.keyboard.press('Enter');
        await page.waitForTimeout(1500);
        if (/#\s*$/m.test(await rows.innerText())) break;
      }
      await page.keyboard.type('echo CORRAL-$((6*7))\n');
      await page.waitForFunction(() => document.querySelector('.xterm-rows')?.textContent.includes('CORRAL-42'), null, { timeout: 20000 });
      return true;
    });
    await step('the VM detail shows its config, NIC address and the description as text', async () => {
      await page.getByRole('cell', { name: '10.215.1.2' }).waitFor({ timeout: T });
      return (await page.locator('p.desc').textContent()) === XSS;
    });
    await step('the VM detail graphs its engine\'s CPU and memory live', async () => {
      await page.locator('[data-usage=cpu]', { hasText: /CPU: \d+ %/ }).waitFor({ timeout: T });
      const mem = await page.locator('[data-usage=memory]').textContent();
      return /Memory: [\d.]+ [KMG]i?B resident of/.test(mem) &&
        (await page.locator('[aria-label="Resource use"] svg.chart polyline').count()) === 2;
    });
    await shot('vm-detail-console');
  } else {
    skip('live state', 'no VM'); skip('console', 'no VM'); skip('VM detail', 'no VM'); skip('VM graphs', 'no VM');
  }

  // ---- images and containers -------------------------------------------------------------
  const noCt = env.CORRAL_IMAGE ? '' : 'no image (containers need root and /bin/busybox)';
  const row = (name) => page.locator(`[data-ct-state=${name}]`);
  const confirm = async (label) => {
    await page.getByRole('dialog').getByRole('button', { name: label, exact: true }).click();
  };
  const haveCt = await chain(noCt, [
    ['the admin imports a busybox image in the Images view (an operation, waited for)', async () => {
      await nav('Images');
      await page.locator('[data-action=create-images]').click();
      await page.getByRole('dialog').getByLabel('Name').fill('busybox');
      await page.getByRole('dialog').getByLabel('Path on the host').fill(env.CORRAL_IMAGE);
      await page.getByRole('dialog').getByRole('button', { name: 'Import', exact: true }).click();
      await page.locator('[data-image=busybox]').waitFor({ timeout: 60000 });
      await page.getByRole('dialog').waitFor({ state: 'detached', timeout: T });
      return (await page.getByRole('cell', { name: /^1$/ }).count()) === 1;    // one layer
    }],
    ['the container create dialog offers container images only and refuses a bad env line before sending it', async () => {
      await shot('images');
      await nav('Containers');
      await page.locator('[data-action=create-container]').click();
      const d = page.getByRole('dialog');
      await d.getByLabel('Name', { exact: true }).fill('ct1');
      await d.getByLabel('Image').selectOption('busybox');
      await d.getByLabel('Command').fill('/bin/sh');
      await d.getByLabel('Environment').fill('NOEQUALS');
      await d.getByRole('button', { name: 'Create', exact: true }).click();
      await d.getByRole('alert').filter({ hasText: 'NAME=VALUE' }).waitFor({ timeout: T });
      return (await d.locator('select[name=image] option[value=shell]').count()) === 0;    // VM images are not offered
    }],
    ['the admin creates a container in the dialog (image, env, memory limit, network): stopped', async () => {
      const d = page.getByRole('dialog');
      await d.getByLabel('Environment').fill('HELLO=web');
      await d.getByLabel('Memory (MiB)').fill('64');
      await d.getByLabel('Network').selectOption('web1');
      await d.getByLabel('Description').fill(XSS);
      await shot('container-create');
      await d.getByRole('button', { name: 'Create', exact: true }).click();
      await row('ct1').filter({ hasText: 'stopped' }).waitFor({ timeout: 30000 });
      return (await page.locator('.desc', { hasText: XSS }).count()) === 1 && (await page.locator('img[src=x]').count()) === 0;
    }],
    ['starting the container (API) shows up live in the list, without a reload', async () => {
      await page.evaluate(() => { window.__noReloadCt = 1; });
      const s = await api('POST', '/containers/ct1/start', {});
      await row('ct1').filter({ hasText: 'running' }).waitFor({ timeout: 30000 });
      await page.locator('[data-action=stop]').waitFor({ timeout: T });
      await shot('containers');
      return s === 202 && (await page.evaluate(() => window.__noReloadCt)) === 1;
    }],
    ['the container page shows its config, limit, address and the description as text', async () => {
      await page.getByRole('link', { name: 'ct1' }).click();
      await page.locator('[data-limit=memory_mib]', { hasText: '64 MiB' }).waitFor({ timeout: T });
      const addr = await page.locator('[data-ct-address=ct1]').textContent();
      return /^10\.215\.1\.\d+$/.test(addr) && (await page.locator('p.desc').textContent()) === XSS;
    }],
    ['the exec box runs `echo CT-$((6*7))` in it: CT-42, exit code 0', async () => {
      await page.getByLabel('Command (run by /bin/sh -c)').fill('echo CT-$((6*7)); echo $HELLO');
      await page.locator('[data-action=exec]').click();
      await page.locator('[data-exec=output]', { hasText: 'CT-42' }).waitFor({ timeout: T });
      return /^CT-42\nweb\n?$/.test(await page.locator('[data-exec=output]').textContent()) &&
        (await page.locator('[data-exec=exit]').textContent()) === 'Exit code 0';
    }],
    ['the container console (xterm.js over the WebSocket) answers a typed command: CON-42', async () => {
      await page.locator('[data-action=console]').click();
      const rows = page.locator('[data-terminal=ct1] .xterm-rows');
      await rows.waitFor({ timeout: T });
      await page.locator('[data-terminal=ct1]').click();
      // Keys typed before the WebSocket is open are lost: wait for the shell's prompt, as for the VM.
      const deadline = Date.now() + 20000;
      while (Date.now() < deadline) {
        await page.keyboard.press('Enter');
        await page.waitForTimeout(500);
        if (/#\s*$/m.test(await rows.innerText())) break;
      }
      await page.keyboard.type('echo CON-$((7*6))\n');
      await page.waitForFunction(() => document.querySelector('[data-terminal=ct1] .xterm-rows')?.textContent.includes('CON-42'), null, { timeout: 20000 });
      return true;
    }],
    ['the container page graphs its cgroup\'s CPU and memory live', async () => {
      await page.locator('[data-usage=cpu]', { hasText: /CPU: \d+ %/ }).waitFor({ timeout: T });
      const mem = await page.locator('[data-usage=memory]').textContent();
      await shot('container-detail');
      return /Memory: [\d.]+ [KMG]i?B in use of 64\.0 MiB/.test(mem) &&
        (await page.locator('[aria-label="Resource use"] svg.chart polyline').count()) === 2;
    }],
    ['Pause, then Resume, from its page: paused (the exec box says so), then running', async () => {
      await page.locator('[data-action=pause]').click();
      await row('ct1').filter({ hasText: 'paused' }).waitFor({ timeout: 30000 });
      await page.getByText('The container is paused: resume it to run commands.').waitFor({ timeout: T });
      await shot('container-paused');
      await page.locator('[data-action=resume]').click();
      await row('ct1').filter({ hasText: 'running' }).waitFor({ timeout: 30000 });
      await page.locator('[data-action=exec]').waitFor({ timeout: T });
      return true;
    }],
    ['Stop (confirmed, the button waits) stops it: the page shows stopped and closes the console', async () => {
      await page.locator('[data-action=stop]').click();
      await confirm('Stop');
      await row('ct1').filter({ hasText: 'stopped' }).waitFor({ timeout: 30000 });
      await page.getByText('The container is not running.').first().waitFor({ timeout: T });
      return (await page.locator('[data-terminal=ct1]').count()) === 0;
    }],
    ['Start from its page, then Kill (confirmed): running, then stopped', async () => {
      await page.locator('[data-action=start]').click();
      await row('ct1').filter({ hasText: 'running' }).waitFor({ timeout: 30000 });
      await page.locator('[data-action=kill]').click();
      await confirm('Kill');
      await row('ct1').filter({ hasText: 'stopped' }).waitFor({ timeout: 30000 });
      return true;
    }],
    ['Delete (confirmed) removes it and goes back to the list', async () => {
      await page.locator('[data-action=delete]').click();
      await confirm('Delete');
      await page.waitForURL(URL + '/containers', { timeout: T });
      await page.locator('table, p.empty').first().waitFor({ timeout: T });
      return (await row('ct1').count()) === 0 && (await api('GET', '/containers/ct1')) === 404;
    }],
    ['deleting an image a container uses shows the server\'s 409 message', async () => {
      if ((await api('POST', '/containers', { name: 'ct2', image: 'busybox' })) !== 201) return false;
      await nav('Images');
      await page.locator('[data-image=busybox]').waitFor({ timeout: T });
      await page.locator('tr', { has: page.locator('[data-image=busybox]') }).locator('[data-action=delete]').click();
      await confirm('Delete');
      await page.locator('.notice.error', { hasText: "container 'ct2' uses image 'busybox'" }).waitFor({ timeout: T });
      return (await page.locator('.notice.error', { hasText: '409' }).count()) === 1;
    }],
  ]);
  if (haveVm) {
    await step('deleting the VM image vm1 boots shows the server\'s 409 message', async () => {
      await nav('Images');
      await page.locator('tr', { has: page.locator('[data-image=shell]') }).locator('[data-action=delete]').click();
      await confirm('Delete');
      await page.locator('.notice.error', { hasText: "VM 'vm1' boots image 'shell'" }).waitFor({ timeout: T });
      await shot('images-vm');
      return (await api('GET', '/images/shell')) === 200;
    });
  } else skip('deleting the VM image a VM boots', 'no VM');

  // ---- the other views -----------------------------------------------------------------
  await nav('Storage');
  await page.getByRole('heading', { name: 'Volumes' }).waitFor({ timeout: T });
  await shot('storage');
  await nav('Operations');
  const kind = haveVm ? 'vm.start' : haveCt ? 'container.start' : '';
  if (kind) {
    await step(`the operations view lists the ${kind}`, async () => {
      await page.getByRole('cell', { name: kind }).first().waitFor({ timeout: T });
      return true;
    });
  } else skip('the operations view lists a start', 'no VM and no container');
  await shot('operations');
  await nav('Users & tokens');
  await page.locator('[data-action=create-users]').click();
  await page.getByLabel('Name').fill('op2');
  await page.getByLabel('Role').selectOption('operator');
  await page.getByLabel('Password').fill(PW);
  await page.getByLabel('Password').press('Enter');
  await step('the admin creates an operator in the users view', () =>
    page.getByRole('cell', { name: 'op2' }).waitFor({ timeout: T }).then(() => true));
  await page.locator('[data-action=create-tokens]').click();
  await page.getByLabel('Name').fill('ci');
  await page.getByLabel('Name').press('Enter');
  await step('the admin creates an API token, shown once to copy', async () => {
    const field = page.getByLabel('API token', { exact: true });
    await field.waitFor({ timeout: T });
    const token = await field.inputValue();
    await page.keyboard.press('Escape');
    return token.startsWith('corral_');
  });
  await step('an auditor is created through the API', async () =>
    (await api('POST', '/users', { name: 'aud1', role: 'auditor', password: PW })) === 201);
  await shot('users');
  await page.setViewportSize({ width: 390, height: 844 });
  await nav('VMs');
  await page.locator('table, p.empty').first().waitFor({ timeout: T });
  await shot('vms-phone');
  await nav('Containers');
  await page.locator('table, p.empty').first().waitFor({ timeout: T });
  await shot('containers-phone');
  await page.setViewportSize({ width: 1280, height: 860 });

  // ---- logout ---------------------------------------------------------------------------
  await page.getByRole('button', { name: 'Log out' }).click();
  await step('logout ends the session: back at /login, the API answers 401', async () => {
    await page.waitForURL('**/login', { timeout: T });
    return (await page.request.get(URL + '/api/v1/auth/whoami')).status() === 401;
  });

  // ---- an operator demoted while logged in: a stale action gets 403 -------------------------
  await login('op2', PW);
  await page.waitForURL(URL + '/', { timeout: T });
  await nav('VMs');
  await page.locator('[data-action=create-vm]').click();
  await step('an operator\'s VM create dialog offers no boot from host paths (admins only)', async () => {
    const kinds = await page.getByLabel('Boot from').locator('option').evaluateAll((os) => os.map((o) => o.value));
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached', timeout: T });
    return kinds.includes('image') && !kinds.includes('kernel');
  });
  if (haveVm) await page.locator('[data-action=pause]').waitFor({ timeout: T });
  // The admin, in a second browser context, demotes op2 while op2's page still shows its buttons.
  const admin = await browser.newContext({ ignoreHTTPSErrors: true });
  const lr = await admin.request.post(URL + '/api/v1/auth/login', { data: { username: 'admin', password: PW } });
  const csrf = (await lr.json()).metadata.csrf_token;
  const pr = await admin.request.fetch(URL + '/api/v1/users/op2', { method: 'PATCH', data: { role: 'auditor' }, headers: { 'X-CSRF-Token': csrf } });
  ok(pr.status() === 200, 'the admin demotes op2 to auditor while op2 is logged in');
  if (haveVm) {
    await page.locator('[data-action=pause]').click();
    await page.getByRole('dialog').getByRole('button', { name: 'Pause' }).click();
    await step('op2\'s stale Pause button now gets 403, shown as an error', () =>
      page.locator('.notice.error', { hasText: '403' }).waitFor({ timeout: T }).then(() => true));
    await shot('forbidden');
  } else skip('a forced action gets 403', 'no VM');
  await page.reload();
  await step('after a reload op2 is shown as auditor and offered no actions', async () => {
    await page.locator('header .role', { hasText: 'auditor' }).waitFor({ timeout: T });
    await page.locator('table, p.empty').first().waitFor({ timeout: T });
    return (await page.locator('[data-action]').count()) === 0;
  });
  // The admin sets op2's password: that ends op2's sessions, so op2's next call gets 401.
  await admin.request.fetch(URL + '/api/v1/users/op2', { method: 'PATCH', data: { password: PW + '-2' }, headers: { 'X-CSRF-Token': csrf } });
  await nav('Networks');
  await step('a session ended on the server sends the page back to /login, saying so', async () => {
    await page.waitForURL('**/login', { timeout: T });
    return (await page.locator('.notice.error', { hasText: 'session ended' }).count()) === 1;
  });

  // ---- the auditor ----------------------------------------------------------------------
  await login('aud1', PW);
  await page.waitForURL(URL + '/', { timeout: T });
  for (const [label, what] of [['VMs', 'VMs'], ['Containers', 'containers'], ['Images', 'images'], ['Networks', 'networks'],
                               ['Storage', 'pools'], ['Users & tokens', 'users']]) {
    await nav(label);
    await step(`the auditor sees ${what} but no action buttons`, async () => {
      await page.locator('table, p.empty').first().waitFor({ timeout: T });
      await page.waitForTimeout(300);
      return (await page.locator('button[data-action]').count()) === 0;
    });
  }
  await nav('VMs');
  await page.locator('table, p.empty').first().waitFor({ timeout: T });
  await shot('vms-auditor');
  if (haveVm) {
    await page.getByRole('link', { name: 'vm1' }).click();
    await step('the auditor\'s VM page offers no console', () =>
      page.getByText('The console needs the operator role').waitFor({ timeout: T }).then(() => true));
    ok((await api('POST', '/vms/vm1/stop', {})) === 403, 'a forced action by the auditor (API, with its session) gets 403');
  } else { skip('the auditor\'s VM page', 'no VM'); skip('a forced action by the auditor', 'no VM'); }
  await chain(haveCt ? '' : 'no container', [
    ['the auditor sees the image and a container, with no action buttons', async () => {
      await nav('Images');
      await page.locator('[data-image=busybox]').waitFor({ timeout: T });
      await shot('images-auditor');
      await nav('Containers');
      await page.locator('[data-ct-state=ct2]').waitFor({ timeout: T });
      await shot('containers-auditor');
      return (await page.locator('button[data-action]').count()) === 0;
    }],
    ['the auditor\'s container page offers no edit, exec or console', async () => {
      await page.getByRole('link', { name: 'ct2' }).click();
      await page.getByText('The console needs the operator role').waitFor({ timeout: T });
      await page.getByText('Running commands needs the operator role').waitFor({ timeout: T });
      return (await page.locator('button[data-action], input[name=exec]').count()) === 0;
    }],
    ['a forced container start by the auditor (API, with its session) gets 403', async () =>
      (await api('POST', '/containers/ct2/start', {})) === 403],
  ]);
  await admin.request.fetch(URL + '/api/v1/vms/vm1/stop', { method: 'POST', data: {}, headers: { 'X-CSRF-Token': csrf } }).catch(() => {});
  await admin.close();

  // Repeated failures are slowed: the page says how long to wait.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL('**/login', { timeout: T });
  // The server allows 3 free tries, then makes each next one wait 2, 4, 8 ... s:
  // attempts in quick succession soon get 429.
  await page.getByLabel('User').fill('nobody');
  let slowed = false;
  for (let i = 0; i < 7 && !slowed; i++) {
    await page.getByLabel('Password').fill('wrong-password-' + i);
    const [r] = await Promise.all([
      page.waitForResponse((x) => x.url().endsWith('/auth/login'), { timeout: T }),
      page.getByLabel('Password').press('Enter'),
    ]);
    slowed = r.status() === 429;
  }
  await step('after repeated failures the login page says "too many attempts, retry in N s"', () =>
    page.getByRole('alert').filter({ hasText: /Too many attempts, retry in \d+ s/ }).waitFor({ timeout: T }).then(() => slowed));
  await shot('login-slowed');

  ok(dialogs.length === 0, 'no JavaScript dialog (alert) fired', dialogs.join('; '));
  ok(cspErrors.length === 0, 'no Content-Security-Policy violation in the console', cspErrors.join('; '));
  ok(pageErrors.length === 0, 'no uncaught page errors', pageErrors.join('; '));
} catch (e) {
  ok(false, 'the browser script ran to the end', e.stack);
  await shot('failure').catch(() => {});
} finally {
  await browser.close();
}
