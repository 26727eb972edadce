// System Manager: the only script of the UI (CSP: script-src 'self'). Forms are sent to the v1 API
// as JSON: changes are planned first, the diff is shown for confirmation, then applied.
'use strict';

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';

  /** Calls the API; resolves with the JSON (or Response for files), rejects with {status, body}. */
  async function api(method, url, body, raw) {
    const headers = { 'X-CSRF-Token': csrf, Accept: 'application/json' };
    const init = { method, headers, credentials: 'same-origin' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    if (res.ok && raw) return res;
    const type = res.headers.get('content-type') || '';
    const data = type.includes('json') ? await res.json() : await res.text();
    if (!res.ok) throw { status: res.status, body: typeof data === 'string' ? { error: data } : data };
    return data;
  }

  // ---- dialog ----
  const dialog = document.getElementById('keel-dialog');
  function ask(title, message, diff, okLabel, canConfirm = true) {
    return new Promise((resolve) => {
      dialog.querySelector('.dialog-title').textContent = title;
      dialog.querySelector('.dialog-message').textContent = message || '';
      const pre = dialog.querySelector('.dialog-diff');
      // One span per line, marked as added, removed or header, for the style sheet to colour.
      pre.replaceChildren(
        ...(diff || '')
          .replace(/\n$/, '')
          .split('\n')
          .map((l) => {
            const s = document.createElement('span');
            s.className = /^(\+\+\+|---|={3,}|Index:)/.test(l) ? 'file' : l.startsWith('@@') ? 'hunk' : l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : 'ctx';
            s.textContent = `${l}\n`;
            return s;
          }),
      );
      pre.hidden = !diff;
      const ok = dialog.querySelector('.dialog-ok');
      const cancel = dialog.querySelector('.dialog-cancel');
      ok.textContent = okLabel || 'Apply';
      ok.hidden = !canConfirm;
      cancel.textContent = canConfirm ? 'Cancel' : 'Close';
      const done = (v) => {
        ok.removeEventListener('click', onOk);
        cancel.removeEventListener('click', onCancel);
        dialog.removeEventListener('cancel', onCancel);
        dialog.close();
        resolve(v);
      };
      const onOk = () => done(true);
      const onCancel = (e) => {
        if (e) e.preventDefault();
        done(false);
      };
      ok.addEventListener('click', onOk);
      cancel.addEventListener('click', onCancel);
      dialog.addEventListener('cancel', onCancel);
      dialog.showModal();
    });
  }

  // ---- fields ----
  const pointer = (name) => '/' + name.split('.').join('/');

  function setPath(obj, name, value) {
    const keys = name.split('.');
    let o = obj;
    keys.slice(0, -1).forEach((k, i) => {
      if (o[k] === undefined || o[k] === null) o[k] = /^\d+$/.test(keys[i + 1]) ? [] : {};
      o = o[k];
    });
    const last = keys[keys.length - 1];
    if (value === undefined) delete o[last];
    else o[last] = value;
  }

  function readFile(input) {
    const f = input.files && input.files[0];
    if (!f) return Promise.resolve('');
    return f.text();
  }

  /** The form's fields as JSON values, overlaid on `base`; throws problems for local checks. */
  async function collect(form, base) {
    const out = base || {};
    const problems = [];
    for (const el of form.querySelectorAll('[name]')) {
      const name = el.getAttribute('name');
      if (!name || name.startsWith('_')) continue;
      if (el.dataset.confirms) {
        const other = form.querySelector(`[name="${el.dataset.confirms}"]`);
        if (other && other.value !== el.value) problems.push({ field: pointer(name), rule: 'confirm', message: 'does not match' });
        continue;
      }
      if (el.dataset.skip) continue;
      const kind = el.dataset.kind || 'str';
      const optional = el.dataset.optional === '1';
      let v;
      if (el.dataset.file) {
        v = await readFile(el);
        if (v === '' && optional) v = undefined;
      }
      else if (kind === 'bool') v = el.type === 'checkbox' ? el.checked : el.value === 'true';
      else if (kind === 'int') v = el.value.trim() === '' ? (optional ? undefined : '') : Number.isNaN(Number(el.value)) ? el.value : Number(el.value);
      else if (kind === 'list') v = el.value.split(/[\s,]+/).filter(Boolean);
      // LDAP group-to-role mappings: one `role group-DN` per line.
      else if (kind === 'mappings') v = el.value.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => { const m = /^(\S+)\s+(.+)$/.exec(l); return m ? { group: m[2].trim(), role: m[1] } : { group: l, role: '' }; });
      else if (kind === 'routes')
        v = el.value
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean)
          .map((l) => {
            const [destination, netmask, via] = l.split(/\s+/);
            return { destination: destination || '', netmask: netmask || '', via: via || '' };
          });
      else v = el.value === '' && optional ? undefined : el.value;
      setPath(out, name, v);
    }
    if (problems.length) throw { status: 400, body: { error: 'Please correct the marked fields.', problems } };
    return out;
  }

  function clearErrors(form) {
    form.querySelectorAll('.field-error').forEach((e) => (e.textContent = ''));
    form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
    const fe = form.querySelector('.form-error');
    if (fe) fe.textContent = '';
    const out = form.querySelector('output.result');
    if (out) out.textContent = '';
  }

  /** Shows problems next to the fields they name (matched by the end of the field path). */
  function showError(form, err) {
    const body = (err && err.body) || { error: String(err && err.message ? err.message : err) };
    const rest = [];
    for (const p of body.problems || []) {
      let shown = false;
      for (const span of form.querySelectorAll('.field-error')) {
        const ptr = pointer(span.dataset.errorFor);
        // A list item's problem (/ntp/servers/1) belongs to the list's field (servers).
        const f = p.field.replace(/(\/\d+)+$/, '');
        if (p.field.endsWith(ptr) || f.endsWith(ptr)) {
          span.textContent = `${p.message} (${p.rule})`;
          const input = form.querySelector(`[name="${span.dataset.errorFor}"]`);
          if (input) input.setAttribute('aria-invalid', 'true');
          shown = true;
          break;
        }
      }
      if (!shown) rest.push(`${p.label || p.field}: ${p.message} (${p.rule})`);
    }
    const fe = form.querySelector('.form-error');
    const text = body.problems && body.problems.length ? (rest.length ? rest.join('; ') : 'Please correct the marked fields.') : body.error || `Error ${err.status}`;
    if (fe) fe.textContent = text;
    else alert(text);
  }

  function planText(p) {
    return p.diff || p.configDiff || '';
  }

  /** Plan, confirm with the diff, then apply. Returns the apply result, or null when cancelled. */
  async function planAndApply(method, url, planUrl, body, what) {
    if (planUrl) {
      const p = await api('POST', planUrl, body);
      if (!p.changed) {
        await ask('Nothing to change', 'This would not change the configuration.', '', 'OK', false);
        return null;
      }
      const extra = p.backup ? `Backup made ${p.backup.createdAt} on ${p.backup.hostname} (revision ${p.backup.revision ?? 'none'}, Keel ${p.backup.keelVersion}). ` : '';
      const risk = p.confirmNeeded ? ` This change could cut you off (${p.confirmNeeded}): it reverts by itself unless you confirm it within 120 seconds.` : '';
      const ok = await ask(`Apply ${what}?`, `${extra}The change takes effect now; Save makes it persistent.${p.units.length ? ` Services: ${p.units.join(', ')}.` : ''}${risk}`, planText(p), 'Apply');
      if (!ok) return null;
    }
    return api(method, url, body);
  }

  function download(res, text, fallback) {
    const cd = res.headers.get('content-disposition') || '';
    const m = /filename="([^"]+)"/.exec(cd);
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], { type: res.headers.get('content-type') || 'application/octet-stream' }));
    a.download = m ? m[1] : fallback;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => {
      URL.revokeObjectURL(a.href);
      a.remove();
    }, 1000);
  }

  // Settings sections: GET the section, overlay the form, plan, confirm, PUT.
  // A protocol choice that has a usual port (data-port-defaults) moves the port field along with it,
  // unless the port holds something other than one of those usual ports (the administrator typed it).
  for (const sel of document.querySelectorAll('select[data-port-defaults]')) {
    const defaults = JSON.parse(sel.dataset.portDefaults);
    const usual = new Set(Object.values(defaults).map(String).concat(['', '2525']));
    sel.addEventListener('change', () => {
      const port = sel.form?.querySelector(`[name="${sel.dataset.portField}"]`);
      if (port && usual.has(port.value.trim()) && defaults[sel.value] !== undefined) port.value = String(defaults[sel.value]);
    });
  }

  for (const form of document.querySelectorAll('form.js-section')) {
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors(form);
      try {
        const base = form.dataset.get ? await api('GET', form.dataset.get) : {};
        if (base && 'passwordSet' in base) delete base.passwordSet;
        const body = await collect(form, base);
        let r;
        try {
          r = await planAndApply('PUT', form.dataset.url, `${form.dataset.url}/plan`, body, 'these settings');
        } catch (err) {
          // A Portal ACL without your own address: say so, and offer to force it (it reverts unless confirmed).
          const self = err && err.body && (err.body.problems || []).find((p) => p.rule === 'self-lockout');
          if (!self) throw err;
          showError(form, err);
          if (!(await ask('Shut yourself out?', `${self.message}.`, '', 'Apply anyway'))) return;
          r = await api('PUT', `${form.dataset.url}?force=true`, body);
        }
        if (r) location.reload();
      } catch (err) {
        showError(form, err);
      }
    });
  }

  // API actions: add user, unlock, revoke, reboot, backup, restore…
  for (const form of document.querySelectorAll('form.js-action')) {
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors(form);
      const out = form.querySelector('output.result');
      try {
        const method = form.dataset.method;
        let body = await collect(form, {});
        if (method === 'DELETE' || (method === 'POST' && Object.keys(body).length === 0 && !form.dataset.plan)) body = method === 'DELETE' ? undefined : {};
        if (form.dataset.confirm && !(await ask('Please confirm', form.dataset.confirm, '', 'Yes'))) return;
        if (form.dataset.result === 'download') {
          const res = await api(method, form.dataset.url, body, true);
          download(res, await res.text(), 'download');
          if (out) out.textContent = 'Downloaded.';
          return;
        }
        const r = await planAndApply(method, form.dataset.url, form.dataset.plan, body, 'this change');
        if (!r) return;
        if (form.dataset.result === 'token') {
          out.textContent = '';
          const p = document.createElement('p');
          p.textContent = 'Copy this token now; it is not shown again:';
          const code = document.createElement('code');
          code.className = 'token';
          code.textContent = r.token;
          out.append(p, code);
          return;
        }
        if (form.dataset.result === 'steps') {
          out.textContent = `${r.ok ? `Signs in as ${r.user} (${r.role}).` : `Refused: ${r.reason}.`}\n${r.steps.join('\n')}`;
          return;
        }
        if (form.dataset.result === 'message') {
          out.textContent = r.rebooting ? 'The appliance is rebooting.' : 'Done.';
          return;
        }
        location.reload();
      } catch (err) {
        showError(form, err);
      }
    });
  }

  // E-mail test: the settings as they are in the form, applied or not.
  for (const form of document.querySelectorAll('form.js-email-test')) {
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors(form);
      const out = form.querySelector('output.result');
      const settingsForm = document.querySelector('form.js-section');
      try {
        const settings = await collect(settingsForm, {});
        if (!settings.auth) {
          delete settings.username;
          delete settings.password;
        }
        const body = await collect(form, {});
        body.settings = settings;
        out.textContent = 'Sending…';
        const r = await api('POST', '/mics/api/v1/email/test', body);
        out.textContent = `Sent. The server answered: ${r.response}`;
      } catch (err) {
        out.textContent = '';
        showError(form, err);
      }
    });
  }

  // Header: a change waiting for confirmation counts down; Confirm keeps it (over this page's new connection).
  const bar = document.getElementById('confirm-bar');
  if (bar) {
    const deadline = Date.parse(bar.dataset.deadline || '');
    const count = bar.querySelector('.js-countdown');
    const tick = () => {
      const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      if (count) count.textContent = String(left);
      if (left === 0) {
        clearInterval(timer);
        setTimeout(() => location.reload(), 3000);
      }
    };
    const timer = setInterval(tick, 1000);
    const b = bar.querySelector('.js-confirm');
    if (b)
      b.addEventListener('click', async () => {
        b.disabled = true;
        try {
          await api('POST', '/mics/api/v1/config/confirm', {}).catch(async (err) => {
            // The browser reused a connection from before the change; the server closed it with
            // that answer, so the second try comes over a new one.
            if (err.status !== 409 || !/new connection/.test((err.body && err.body.error) || '')) throw err;
            await new Promise((r) => setTimeout(r, 300));
            return api('POST', '/mics/api/v1/config/confirm', {});
          });
          location.reload();
        } catch (err) {
          b.disabled = false;
          alert((err.body && err.body.error) || 'Confirm failed');
        }
      });
  }

  // Header: Save (running → startup).
  for (const b of document.querySelectorAll('.js-save')) {
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        await api('POST', '/mics/api/v1/config/save', {});
        location.reload();
      } catch (err) {
        b.disabled = false;
        alert((err.body && err.body.error) || 'Save failed');
      }
    });
  }
})();
