'use strict';
// Renders the JSON API's answers into the page's tables. Everything shown passes through esc().

const esc = s => String(s ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const ms = v => v == null ? '' : v >= 10000 ? `${(v / 1000).toFixed(0)} s` : v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`;
const body = id => document.querySelector(`#${id} tbody`);
const cls = ok => ok ? 'ok' : 'bad';
// Fills a listing's table with its rows, or with one row that says the page is empty (across every column of its head).
const fill = (id, rows, empty) => {
  body(id).innerHTML = rows.join('') || `<tr><td colspan="${document.querySelectorAll(`#${id} thead th`).length}" class="muted">${esc(empty)}</td></tr>`;
};
// At most n characters (code points, so a pair is never split), the rest cut to an ellipsis; the caller escapes.
const shorten = (s, n = 60) => { const c = [...String(s ?? '')]; return c.length > n ? `${c.slice(0, n - 1).join('')}…` : c.join(''); };

function renderSilos(data) {
  body('processes').innerHTML = data.silos.map(s => {
    const r = s.readiness || {}, v = s.view || {};
    const state = s.state === 'down' ? 'down (dead)' : s.state;
    return `<tr data-silo="${esc(s.name)}" data-state="${esc(s.state)}"><td>${esc(s.name)}</td><td class="${s.state === 'ready' ? 'ok' : 'bad'}">${esc(state)}</td>` +
      `<td class="num">${esc(s.pid ?? '-')}</td><td class="num" data-field="restarts">${esc(s.restarts ?? '')}</td>` +
      `<td class="num">${v.localHealth ?? ''}</td><td>${r.caughtUp == null ? '' : r.caughtUp ? 'yes' : 'no'}</td>` +
      `<td>${(r.recovering || []).map(x => `p${x.partition} ${x.copied}/${x.expected}`).join(', ')}</td></tr>`;
  }).join('');
  body('probes').innerHTML = data.silos.flatMap(s => !s.view || !s.view.members
    ? [`<tr data-viewer="${esc(s.name)}"><td>${esc(s.name)}</td><td colspan="6" class="muted">${s.state === 'down' ? 'not answering' : 'probes off'}</td></tr>`]
    : s.view.members.filter(m => !m.isSelf).map(m =>
      `<tr data-viewer="${esc(s.name)}" data-member="${esc(m.member)}" data-status="${esc(m.status)}"><td>${esc(s.name)}</td><td>${esc(m.member)}</td>` +
      `<td class="${m.status === 'Alive' ? 'ok' : m.status === 'Suspect' ? 'warn' : 'bad'}">${esc(m.status)}</td><td class="num">${m.incarnation}</td>` +
      `<td>${m.suspicionDeadlineInMs != null ? `${m.confirmations} votes, deadline in ${ms(m.suspicionDeadlineInMs)}` : ''}</td>` +
      `<td class="num">${m.roundTripMs != null ? m.roundTripMs.toFixed(2) + ' ms' : ''}</td><td>${esc(m.orleansStatus)}</td></tr>`)).join('');
}

// A partition is lost when a majority of its members are dead in some silo's view: only then is re-initialising it
// offered (the cluster refuses it for any partition that still has a majority).
function renderPartitions(view, degraded, dead, canAct) {
  document.getElementById('epoch').textContent = view.clusterEpoch;
  body('partitions').innerHTML = view.partitions.map(p => {
    const recovering = p.recovering || [];
    const full = p.members.length >= view.replicationFactor && recovering.length === 0 && !degraded.has(p.partition);
    const lost = p.members.filter(m => !dead.has(m)).length < Math.floor(p.members.length / 2) + 1;
    const redundancy = `${p.members.length - recovering.length}/${view.replicationFactor}${lost ? ' LOST' : full ? '' : ' degraded'}`;
    const action = canAct && lost ? `<button class="reinit" data-partition="${p.partition}">re-initialise</button>` : '';
    return `<tr data-partition="${p.partition}"><td class="num">${p.partition}</td><td class="num">${p.epoch}</td><td>${p.members.map(esc).join('<br>')}</td>` +
      `<td>${recovering.map(esc).join('<br>')}</td><td class="${cls(full)}">${redundancy}</td><td class="num">${p.tokenEpoch}</td><td class="op">${action}</td></tr>`;
  }).join('');
  body('audit').innerHTML = view.audit.slice().reverse().map(a =>
    `<tr><td>${esc(new Date(a.at).toLocaleString())}</td><td>${esc(a.operator)}</td><td>${esc(a.action)}</td><td>${esc(a.reason)}</td><td class="num">${a.clusterEpoch}</td></tr>`).join('');
}

function renderLocks(page, canAct) {
  fill('locks', page.locks.map(l => {
    const h = l.holder;
    const action = canAct && h ? `<button class="revoke" data-kind="lock" data-name="${esc(l.name)}">revoke</button>` : '';
    return `<tr data-lock="${esc(l.name)}"><td>${esc(l.name)}</td><td>${esc(h?.sessionTag ?? '(free)')}</td><td>${esc(h?.owner)}</td>` +
      `<td class="num" data-field="token">${h ? h.fencingToken : ''}</td><td class="num">${ms(l.leaseRemainingMs)}</td>` +
      `<td class="num" title="${esc(l.waiters.map(w => w.owner ?? w.sessionTag).join(', '))}">${l.waiters.length}</td><td class="op">${action}</td></tr>`;
  }), 'no held or awaited locks on this page');
}

function renderElections(page, canAct) {
  fill('elections', page.elections.map(e => {
    const l = e.leader;
    const action = canAct && l ? `<button class="revoke" data-kind="election" data-name="${esc(e.name)}">revoke</button>` : '';
    return `<tr data-election="${esc(e.name)}"><td>${esc(e.name)}</td><td>${esc(l?.sessionTag ?? '(none)')}</td><td>${esc(l?.owner)}</td>` +
      `<td class="num" data-field="term">${l ? l.term : ''}</td><td class="num">${ms(e.leaseRemainingMs)}</td><td class="num">${e.candidates.length}</td><td class="op">${action}</td></tr>`;
  }), 'no elections with a leader or candidates on this page');
}

// Semaphores and reader-writer locks: one row per name, its holders listed in it; the lease shown is the one that ends
// first (when that holder's session is not kept alive, its grant is the first to go).
const holderLine = (h, access) => `${esc(h.sessionTag)}${h.owner ? ` (${esc(h.owner)})` : ''}${access ? ` ${esc(access)}` : ''} #${h.fencingToken}`;
const firstLease = l => { const v = l.holders.map(h => h.leaseRemainingMs).filter(x => x != null); return v.length ? Math.min(...v) : null; };
const revokeButton = (canAct, kind, l) => canAct && l.holders.length ? `<button class="revoke" data-kind="${kind}" data-name="${esc(l.name)}">revoke</button>` : '';
const waitersCell = l => `<td class="num" title="${esc(l.waiters.map(w => w.owner ?? w.sessionTag).join(', '))}">${l.waiters.length}</td>`;

function renderSemaphores(page, canAct) {
  fill('semaphores', page.locks.map(l =>
    `<tr data-semaphore="${esc(l.name)}"><td>${esc(l.name)}</td><td class="num" data-field="permits">${l.holders.length}/${l.maxCount}${l.lockDelayActive ? ' (delay)' : ''}</td>` +
    `<td>${l.holders.map(h => holderLine(h)).join('<br>') || '(none)'}</td><td class="num">${ms(firstLease(l))}</td>${waitersCell(l)}` +
    `<td class="op">${revokeButton(canAct, 'semaphore', l)}</td></tr>`), 'no semaphores with permits held or awaited on this page');
}

function renderReaderWriterLocks(page, canAct) {
  const heldBy = l => !l.holders.length ? '(free)' : l.holders.some(h => h.access === 'write') ? 'a writer'
    : `${l.holders.length} reader${l.holders.length > 1 ? 's' : ''}${l.upgradePending ? ', upgrading' : ''}`;
  fill('rwlocks', page.locks.map(l =>
    `<tr data-rwlock="${esc(l.name)}"><td>${esc(l.name)}</td><td data-field="held-by">${esc(heldBy(l))}${l.lockDelayActive ? ' (delay)' : ''}</td>` +
    `<td>${l.holders.map(h => holderLine(h, h.access)).join('<br>') || '(none)'}</td><td class="num">${ms(firstLease(l))}</td>${waitersCell(l)}` +
    `<td class="op">${revokeButton(canAct, 'readerWriterLock', l)}</td></tr>`), 'no reader-writer locks held or awaited on this page');
}

// Values, counters and latches: read-only (nothing of theirs is held, so there is nothing to revoke). A long value is
// cut short in its cell and shown in full in the cell's title; a value not bound to a session is persistent.
function renderValues(page) {
  fill('values', page.values.map(v =>
    `<tr data-value="${esc(v.name)}"><td>${esc(v.name)}</td><td data-field="value" title="${esc(v.value)}">${esc(shorten(v.value))}</td>` +
    `<td class="num" data-field="revision">${esc(v.revision)}</td>` +
    `<td data-field="session"${v.sessionTag == null ? ' class="muted"' : ''}>${esc(v.sessionTag ?? 'persistent')}</td></tr>`), 'no values on this page');
}

function renderCounters(page) {
  fill('counters', page.counters.map(c =>
    `<tr data-counter="${esc(c.name)}"><td>${esc(c.name)}</td><td class="num" data-field="value">${esc(c.value)}</td>` +
    `<td class="num" data-field="revision">${esc(c.revision)}</td></tr>`), 'no counters other than zero on this page');
}

function renderLatches(page) {
  fill('latches', page.latches.map(l =>
    `<tr data-latch="${esc(l.name)}"><td>${esc(l.name)}</td>` +
    `<td data-field="left"${l.released ? ' class="ok"' : ''}>${l.released ? 'released' : `${esc(l.count)} of ${esc(l.initialCount)}`}</td></tr>`),
  'no latches on this page');
}

// A revoked session is alive until its client closes it or its lease runs out: shown so, with the operator's reason, and offered no second revoke.
function renderSessions(page, canAct) {
  fill('sessions', page.sessions.map(s => {
    const status = s.revoked ? `${s.status}, revoked: ${s.revoked}` : s.status;
    const action = canAct && s.status === 'Alive' && !s.revoked ? `<button class="revoke" data-kind="session" data-name="${esc(s.tag)}">revoke</button>` : '';
    return `<tr data-session="${esc(s.tag)}"><td>${esc(s.tag)}</td><td>${esc(s.owner)}</td><td class="${s.revoked ? 'warn' : cls(s.status === 'Alive')}" data-field="status">${esc(status)}</td>` +
      `<td class="num">${ms(s.ttlMs)}</td><td class="num">${ms(s.remainingMs)}</td><td class="num">${s.holdings}</td><td class="op">${action}</td></tr>`;
  }), 'no sessions on this page');
}
